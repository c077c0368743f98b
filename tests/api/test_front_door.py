"""The front door through real clients: boto3, the AWS CLI, plain HTTP, SigV2 and SigV4."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from tests.support import LiveCloud

# SQLite only (HTTP, signatures, errors), except the property and service tests
# below: properties are stored and propagated through the database


@contextlib.contextmanager
def mock_clock(when: datetime) -> Iterator[None]:
    """Sign as if the client's clock said ``when`` (botocore reads it through auth)."""
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *a, **k: when  # type: ignore[assignment]
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = original  # type: ignore[assignment]


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _http(method: str, url: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def _body(prepared: object) -> bytes:
    body = getattr(prepared, "body", b"") or b""
    return body.encode() if isinstance(body, str) else bytes(body)


def _signed(cloud: LiveCloud, service: str, params: dict[str, str], *, path: str = "/",
            secret: str | None = None) -> AWSRequest:
    creds = botocore.credentials.Credentials(cloud.access_key, secret or cloud.secret_key)
    request = AWSRequest(method="POST", url=cloud.endpoint + path, data=params,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    botocore.auth.SigV4Auth(creds, service, cloud.region).add_auth(request)
    return request


def test_health(cloud: LiveCloud) -> None:
    status, body, _ = _http("GET", cloud.endpoint + "/_cloud/health")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


def test_get_caller_identity_boto3(cloud: LiveCloud) -> None:
    ident = cloud.client("sts").get_caller_identity()
    assert ident["Account"] == cloud.account_id
    assert ident["Arn"] == f"arn:aws:iam::{cloud.account_id}:user/admin"
    assert ident["UserId"].startswith("AIDA")


def test_get_caller_identity_eucalyptus_path(cloud: LiveCloud) -> None:
    ident = cloud.client("sts", path="/services/Tokens").get_caller_identity()
    assert ident["Account"] == cloud.account_id


def test_get_caller_identity_aws_cli(cloud: LiveCloud) -> None:
    out = json.loads(cloud.aws("sts", "get-caller-identity").stdout)
    assert out["Account"] == cloud.account_id


def test_aws_cli_v2(cloud: LiveCloud) -> None:
    """The Debian AWS CLI v2 (its own botocore) against the same server."""
    ident = json.loads(cloud.aws("sts", "get-caller-identity", version=2).stdout)
    assert ident["Account"] == cloud.account_id
    regions = json.loads(cloud.aws("ec2", "describe-availability-zones", version=2).stdout)
    assert regions["AvailabilityZones"][0]["ZoneName"] == "eucalyptus-1a"
    bad = cloud.aws("sts", "get-caller-identity", version=2, secret_key="y" * 40, check=False)
    assert bad.returncode != 0 and "SignatureDoesNotMatch" in bad.stderr


def test_describe_regions_and_zones(cloud: LiveCloud) -> None:
    ec2 = cloud.client("ec2")
    regions = ec2.describe_regions()["Regions"]
    assert [r["RegionName"] for r in regions] == ["eucalyptus"]
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ["eucalyptus-1a"]
    assert zones[0]["State"] == "available" and zones[0]["RegionName"] == "eucalyptus"
    filtered = ec2.describe_availability_zones(
        Filters=[{"Name": "zone-name", "Values": ["eucalyptus-1*"]}])["AvailabilityZones"]
    assert len(filtered) == 1
    none = ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["impaired"]}])["AvailabilityZones"]
    assert none == []
    with pytest.raises(ClientError) as err:
        ec2.describe_availability_zones(Filters=[{"Name": "bogus", "Values": ["x"]}])
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        ec2.describe_availability_zones(ZoneNames=["nowhere-1z"])
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        ec2.describe_regions(RegionNames=["mars-1"])
    assert _code(err) == "InvalidParameterValue"


def test_verbose_zones_for_admin(cloud: LiveCloud) -> None:
    zones = cloud.client("ec2").describe_availability_zones(ZoneNames=["verbose"])
    assert zones["AvailabilityZones"][0]["Messages"], "admin verbose view carries details"


def test_describe_regions_aws_cli_and_compute_path(cloud: LiveCloud) -> None:
    out = json.loads(cloud.aws("ec2", "describe-regions").stdout)
    assert out["Regions"][0]["RegionName"] == "eucalyptus"
    regions = cloud.client("ec2", path="/services/compute").describe_regions()["Regions"]
    assert regions[0]["RegionName"] == "eucalyptus"


def test_bad_secret_each_service(cloud: LiveCloud) -> None:
    with pytest.raises(ClientError) as err:
        cloud.client("sts", secret_key="x" * 40).get_caller_identity()
    assert _code(err) == "SignatureDoesNotMatch"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as err:
        cloud.client("ec2", secret_key="x" * 40).describe_regions()
    assert _code(err) == "AuthFailure"
    with pytest.raises(ClientError) as err:
        cloud.client("sts", access_key="AKIAUNKNOWNKEY000000").get_caller_identity()
    assert _code(err) == "InvalidClientTokenId"


def test_tampered_request(cloud: LiveCloud) -> None:
    request = _signed(cloud, "sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15",
                                     "Extra": "aaaa"})
    prepared = request.prepare()
    body = _body(prepared).replace(b"aaaa", b"bbbb")
    status, payload, _ = _http("POST", prepared.url, body, dict(prepared.headers))
    assert status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in payload
    status, payload, _ = _http("POST", prepared.url, _body(prepared), dict(prepared.headers))
    assert status == 200 and b"GetCallerIdentityResult" in payload


def test_missing_token(cloud: LiveCloud) -> None:
    status, payload, _ = _http("POST", cloud.endpoint + "/",
                               b"Action=GetCallerIdentity&Version=2011-06-15",
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert status in (400, 403)
    assert b"MissingAuthenticationToken" in payload or b"MissingAuthenticationToken" in payload


def test_expired_presigned_url(cloud: LiveCloud) -> None:
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    url = cloud.endpoint + "/?Action=GetCallerIdentity&Version=2011-06-15"
    ok = AWSRequest(method="GET", url=url)
    botocore.auth.SigV4QueryAuth(creds, "sts", cloud.region, expires=60).add_auth(ok)
    status, payload, _ = _http("GET", ok.url)
    assert status == 200, payload
    old = AWSRequest(method="GET", url=url)
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    with mock_clock(past):
        botocore.auth.SigV4QueryAuth(creds, "sts", cloud.region, expires=60).add_auth(old)
    status, payload, _ = _http("GET", old.url)
    assert status in (400, 403)
    assert b"<Code>" in payload and (b"Expired" in payload or b"expired" in payload)


def test_sigv2_query(cloud: LiveCloud) -> None:
    creds = botocore.credentials.Credentials(cloud.access_key, cloud.secret_key)
    request = AWSRequest(method="POST", url=cloud.endpoint + "/services/compute",
                         data={"Action": "DescribeRegions", "Version": "2015-10-01"})
    botocore.auth.SigV2Auth(creds).add_auth(request)
    prepared = request.prepare()
    status, payload, _ = _http("POST", prepared.url, _body(prepared), dict(prepared.headers))
    assert status == 200, payload
    assert b"<regionName>eucalyptus</regionName>" in payload


def test_unknown_action_and_unimplemented(cloud: LiveCloud) -> None:
    request = _signed(cloud, "iam", {"Action": "FlyToTheMoon", "Version": "2010-05-08"})
    prepared = request.prepare()
    status, payload, _ = _http("POST", prepared.url, _body(prepared), dict(prepared.headers))
    assert status == 400 and b"<Code>InvalidAction</Code>" in payload
    with pytest.raises(ClientError) as err:
        cloud.client("ec2").describe_fpga_images()
    assert _code(err) in ("NotImplemented", "UnsupportedOperation")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 501)


def test_missing_parameter_ec2(cloud: LiveCloud) -> None:
    request = _signed(cloud, "ec2", {"Action": "DeleteKeyPair", "Version": "2016-11-15",
                                     "DryRun": "notabool"})
    prepared = request.prepare()
    status, payload, _ = _http("POST", prepared.url, _body(prepared), dict(prepared.headers))
    assert 400 <= status < 500, payload
    assert b"<Errors><Error><Code>" in payload


@pytest.mark.both_databases
def test_properties_boto3(cloud: LiveCloud) -> None:
    props = cloud.client("properties", path="/services/Properties")
    listed = props.describe_properties()["Properties"]
    names = {p["Name"] for p in listed}
    assert {"bootstrap.webservices.port", "bootstrap.webservices.clock_skew_sec",
            "region.region_name"} <= names
    one = props.describe_properties(Properties=["bootstrap.webservices.clock_skew_sec"])
    assert one["Properties"][0]["Value"] == "900"
    out = props.modify_property_value(Name="bootstrap.webservices.clock_skew_sec", Value="600")
    assert out["OldValue"] == "900" and out["Value"] == "600"
    with pytest.raises(ClientError) as err:
        props.modify_property_value(Name="bootstrap.webservices.clock_skew_sec", Value="soon")
    assert _code(err) == "InvalidParameterValue"
    with pytest.raises(ClientError) as err:
        props.modify_property_value(Name="no.such.property", Value="1")
    assert _code(err) == "InvalidParameterValue"
    reset = props.modify_property_value(Name="bootstrap.webservices.clock_skew_sec", Reset=True)
    assert reset["Value"] == "900" and reset["OldValue"] == "600"


@pytest.mark.both_databases
def test_property_change_takes_effect_without_restart(cloud: LiveCloud) -> None:
    """Shrinking the query-size limit applies to the very next request."""
    props = cloud.client("properties", path="/services/Properties")
    ec2 = cloud.client("ec2")
    long_filter = [{"Name": "zone-name", "Values": ["z" * 200 for _ in range(20)]}]
    ec2.describe_availability_zones(Filters=long_filter)
    props.modify_property_value(Name="bootstrap.webservices.max_request_bytes", Value="2048")
    try:
        with pytest.raises(ClientError) as err:
            ec2.describe_availability_zones(Filters=long_filter)
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    finally:
        props.modify_property_value(Name="bootstrap.webservices.max_request_bytes", Reset=True)
    ec2.describe_availability_zones(Filters=long_filter)


def test_property_cli(cloud: LiveCloud) -> None:
    out = cloud.cli("property", "get", "bootstrap.webservices.clock_skew_sec").stdout
    assert out.strip() == "bootstrap.webservices.clock_skew_sec = 900"
    out = cloud.cli("property", "set", "bootstrap.webservices.clock_skew_sec=300").stdout
    assert "was 900" in out
    data = json.loads(cloud.cli("--output", "json", "property", "get", "bootstrap.webservices").stdout)
    assert data["bootstrap.webservices.clock_skew_sec"] == 300
    cloud.cli("property", "reset", "bootstrap.webservices.clock_skew_sec")
    bad = cloud.cli("property", "set", "bootstrap.webservices.port=99999", check=False)
    assert bad.returncode == 1 and "InvalidParameterValue" in bad.stderr


@pytest.mark.both_databases
def test_services(cloud: LiveCloud) -> None:
    empyrean = cloud.client("empyrean", path="/services/Empyrean")
    statuses = empyrean.describe_services()["ServiceStatuses"]
    by_type = {s["ServiceId"]["Type"]: s["LocalState"] for s in statuses}
    assert by_type["tokens"] == "ENABLED" and by_type["compute"] == "ENABLED"
    out = cloud.cli("service", "list").stdout
    assert "tokens" in out and "ENABLED" in out
    rows = json.loads(cloud.cli("--output", "json", "service", "list").stdout)
    assert any(r["type"] == "properties" and r["state"] == "ENABLED" for r in rows)
