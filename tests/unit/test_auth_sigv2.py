"""SigV2 for query services, signed by botocore's SigV2Auth (and by hand for HmacSHA1)."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pytest
from botocore.auth import SigV2Auth
from botocore.awsrequest import AWSRequest

from cloudctl.auth.verify import authenticate
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest
from tests.unit.test_auth_support import (
    AKID,
    ENDPOINT,
    SECRET,
    TOKEN,
    creds,
    replace,
    store,
    tmp_creds,
    to_wire,
)

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def v2_post(params=None, credentials=None, path="/services/compute") -> WireRequest:
    data = params or {"Action": "DescribeImages", "Version": "2016-11-15", "Owner.1": "a b+c/é~"}
    request = AWSRequest(
        method="POST", url=ENDPOINT + path, data=dict(data), headers={"Content-Type": FORM}
    )
    SigV2Auth(credentials or creds()).add_auth(request)
    return to_wire(request)


def v2_get(params=None, credentials=None) -> WireRequest:
    request = AWSRequest(
        method="GET",
        url=ENDPOINT + "/services/Euare",
        params=dict(params or {"Action": "ListUsers", "PathPrefix": "/x y/"}),
    )
    SigV2Auth(credentials or creds()).add_auth(request)
    return to_wire(request)


async def expect(req, service, code, status, **kw) -> AwsError:
    with pytest.raises(AwsError) as info:
        await authenticate(req, store(), service=service, **kw)
    assert (info.value.code, info.value.status) == (code, status), info.value.message
    return info.value


async def test_post_form_and_get_query_verify():
    result = await authenticate(v2_post(), store(), service="ec2")
    assert result.signature_version == "v2" and result.region is None
    assert result.credential is not None and result.credential.access_key_id == AKID
    await authenticate(v2_get(), store(), service="iam")


def hand_signed(method_name: str, digest: str, **extra: str) -> WireRequest:
    params = {
        "Action": "DescribeRegions",
        "AWSAccessKeyId": AKID,
        "SignatureVersion": "2",
        "SignatureMethod": method_name,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }
    canonical = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(params.items())
    )
    text = f"GET\ncloud.local:8773\n/\n{canonical}"
    params["Signature"] = base64.b64encode(
        hmac.digest(SECRET.encode(), text.encode(), digest)
    ).decode()
    return WireRequest("GET", "/", urlencode(params), {"Host": "cloud.local:8773"})


async def test_hmac_sha1_and_sha256_by_hand():
    await authenticate(hand_signed("HmacSHA1", "sha1"), store(), service="ec2")
    await authenticate(hand_signed("HmacSHA256", "sha256"), store(), service="ec2")
    await expect(hand_signed("HmacSHA1", "sha256"), "ec2", "AuthFailure", 401)


async def test_tampering_wrong_secret_unknown_key():
    good = v2_post()
    await expect(
        replace(good, body=good.body.replace(b"DescribeImages", b"RunInstances")),
        "ec2",
        "AuthFailure",
        401,
    )
    await expect(replace(good, path="/"), "ec2", "AuthFailure", 401)
    await expect(v2_get(credentials=creds(secret="bad")), "iam", "SignatureDoesNotMatch", 403)
    await expect(v2_get(credentials=creds(akid="AKIDNOPE")), "iam", "InvalidClientTokenId", 403)


async def test_timestamp_skew_and_expires():
    later = datetime.now(UTC) + timedelta(minutes=20)
    await expect(v2_post(), "ec2", "RequestExpired", 400, now=later)
    err = await expect(v2_get(), "iam", "SignatureDoesNotMatch", 403, now=later)
    assert err.message.startswith("Signature expired")
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    req = hand_signed("HmacSHA256", "sha256")
    # Expires instead of Timestamp: in the past -> RequestExpired
    params = [(k, v) for k, v in req.query if k not in ("Timestamp", "Signature")]
    params.append(("Expires", past))
    expired = WireRequest("GET", "/", urlencode(params + [("Signature", "x")]), req.headers)
    await expect(expired, "ec2", "RequestExpired", 400)


async def test_session_token_in_security_token_parameter():
    result = await authenticate(v2_post(credentials=tmp_creds()), store(), service="ec2")
    assert result.credential is not None and result.credential.session_token == TOKEN
    req = v2_post(credentials=tmp_creds())
    bad = replace(req, body=req.body.replace(b"SecurityToken=", b"SecurityToken=x"))
    await expect(bad, "iam", "InvalidClientTokenId", 403)


async def test_malformed_parameters():
    await expect(
        WireRequest("GET", "/", "Action=X&SignatureVersion=2", {"Host": "h"}),
        "ec2",
        "MissingParameter",
        400,
    )
    req = hand_signed("HmacSHA256", "sha256")
    query = req.raw_query.replace("SignatureVersion=2", "SignatureVersion=1")
    await expect(replace(req, raw_query=query, query=[]), "ec2", "InvalidParameterValue", 400)
    query = req.raw_query.replace("HmacSHA256", "HmacMD5")
    await expect(replace(req, raw_query=query, query=[]), "ec2", "InvalidParameterValue", 400)
