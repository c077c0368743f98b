"""AssumeRoleWithWebIdentity through boto3 (unsigned) against an OIDC issuer started
here on loopback: token exchanged for role credentials; wrong audience, expired token,
bad signature, unknown key, unreachable issuer and trust conditions refused."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support import LiveCloud

# SQLite only (OIDC tokens and keys: no database-specific path; IAM's storage runs on both in test_iam_core)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class Issuer:
    """A minimal OpenID Connect issuer: discovery document and JWKS over loopback HTTP."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        numbers = self.rsa.public_key().public_numbers()
        point = self.ec.public_key().public_numbers()
        self.jwks = {"keys": [
            {"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256",
             "n": _int(numbers.n), "e": _int(numbers.e)},
            {"kty": "EC", "kid": "e1", "use": "sig", "crv": "P-256",
             "x": _int(point.x), "y": _int(point.y)}]}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/.well-known/openid-configuration"):
                    body = json.dumps({"issuer": issuer.url,
                                       "jwks_uri": issuer.url + "/keys"}).encode()
                elif self.path.endswith("/keys"):
                    body = json.dumps(issuer.jwks).encode()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/realm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, alg: str = "RS256", kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": "alice", "aud": "cloud-app", "iat": now,
                "exp": now + 600, **claims}
        header = {"alg": alg, "typ": "JWT", "kid": kid or ("r1" if alg == "RS256" else "e1")}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
        if alg == "RS256":
            signature = self.rsa.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.ec.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signed}.{_b64(signature)}"

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture()
def issuer() -> Iterator[Issuer]:
    found = Issuer()
    yield found
    found.close()


def _err(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return (str(exc.value.response["Error"]["Code"]),
            int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))


def test_oidc_provider_crud(cloud: LiveCloud, issuer: Issuer) -> None:
    iam = cloud.client("iam")
    arn = iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=["a"], ThumbprintList=["a" * 40],
        Tags=[{"Key": "k", "Value": "v"}])["OpenIDConnectProviderArn"]
    name = issuer.url.split("://", 1)[1]
    assert arn == f"arn:aws:iam::{cloud.account_id}:oidc-provider/{name}"
    with pytest.raises(ClientError) as err:
        iam.create_open_id_connect_provider(Url=issuer.url, ClientIDList=["a"],
                                            ThumbprintList=["a" * 40])
    assert _err(err) == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as err:  # plain http to a non-loopback host
        iam.create_open_id_connect_provider(Url="http://idp.example.com", ClientIDList=["a"],
                                            ThumbprintList=["a" * 40])
    assert _err(err) == ("InvalidInput", 400)
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="b")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                                       ClientID="a")
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                   ThumbprintList=["b" * 40])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert got["Url"] == name and got["ClientIDList"] == ["b"]
    assert got["ThumbprintList"] == ["b" * 40]
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                     Tags=[{"Key": "k2", "Value": "v2"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["k"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [
        {"Key": "k2", "Value": "v2"}]
    assert arn in [p["Arn"] for p in iam.list_open_id_connect_providers()
                   ["OpenIDConnectProviderList"]]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with pytest.raises(ClientError) as err:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert _err(err) == ("NoSuchEntity", 404)


def test_web_identity_token_for_role_credentials(cloud: LiveCloud, issuer: Issuer) -> None:
    iam = cloud.client("iam")
    arn = iam.create_open_id_connect_provider(
        Url=issuer.url, ClientIDList=["cloud-app"],
        ThumbprintList=["0" * 40])["OpenIDConnectProviderArn"]
    name = issuer.url.split("://", 1)[1]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": arn},
        "Condition": {"StringEquals": {f"{name}:aud": "cloud-app"},
                      "StringLike": {f"{name}:sub": "ali*"}}}]}
    role_name = f"web-{issuer.server.server_address[1]}"
    iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName=role_name,
                           PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    role_arn = f"arn:aws:iam::{cloud.account_id}:role/{role_name}"
    # botocore sends this call unsigned; also force it, with no credentials at all
    sts = cloud.client("sts", config=Config(signature_version=UNSIGNED,
                                            retries={"max_attempts": 1}))
    out = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="web1",
                                            WebIdentityToken=issuer.token())
    assert out["SubjectFromWebIdentityToken"] == "alice" and out["Audience"] == "cloud-app"
    assert out["Provider"] == name
    assert out["AssumedRoleUser"]["Arn"] == \
        f"arn:aws:sts::{cloud.account_id}:assumed-role/{role_name}/web1"
    creds = out["Credentials"]
    role_iam = cloud.client("iam", access_key=creds["AccessKeyId"],
                            secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    role_iam.list_roles()
    with pytest.raises(ClientError) as err:
        role_iam.create_user(UserName="web-sneaky")
    assert _err(err) == ("AccessDenied", 403)
    # ES256 tokens verify too
    sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="web2",
                                      WebIdentityToken=issuer.token(alg="ES256"))

    def refused(token: str) -> tuple[str, int]:
        with pytest.raises(ClientError) as err:
            sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName="bad",
                                              WebIdentityToken=token)
        return _err(err)

    assert refused(issuer.token(aud="other-app")) == ("InvalidIdentityToken", 400)
    assert refused(issuer.token(exp=int(time.time()) - 3600)) == \
        ("ExpiredTokenException", 400)
    good = issuer.token()
    head, body, sig = good.split(".")
    forged = json.loads(base64.urlsafe_b64decode(body + "=="))
    forged["sub"] = "alice-admin"
    forged_body = _b64(json.dumps(forged).encode())
    assert refused(f"{head}.{forged_body}.{sig}") == ("InvalidIdentityToken", 400)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    resigned = other.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    assert refused(f"{head}.{body}.{_b64(resigned)}") == ("InvalidIdentityToken", 400)
    none_head = _b64(json.dumps({"alg": "none"}).encode())
    assert refused(f"{none_head}.{body}.") == ("InvalidIdentityToken", 400)
    assert refused(issuer.token(kid="unknown")) == ("InvalidIdentityToken", 400)
    assert refused(issuer.token(iss="http://127.0.0.1:1/elsewhere")) == \
        ("InvalidIdentityToken", 400)
    # the trust policy's sub condition
    assert refused(issuer.token(sub="bob")) == ("AccessDenied", 403)
    # the issuer unreachable (a key id not cached makes the cloud fetch again)
    issuer.close()
    issuer.thread.join()
    assert refused(issuer.token(kid="r-new")) == ("IDPCommunicationError", 400)
