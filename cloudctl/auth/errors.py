"""The AWS error each authentication failure answers, per family of services.

Owns the mapping from a failure (bad signature, unknown key, skew...) to the
code, HTTP status and message AWS answers. Services answer differently: S3 has
its own codes, EC2 folds most failures into ``AuthFailure``, query services
(IAM, STS, ELB, Auto Scaling, CloudFormation, CloudWatch query) share one set and
JSON services use ``...Exception`` names. Messages never carry a secret; they may
carry the access key id, as AWS's do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cloudctl.errors import AwsError


class Family(StrEnum):
    S3 = "s3"
    EC2 = "ec2"
    QUERY = "query"
    JSON = "json"


_JSON_PROTOCOLS = frozenset({"json", "rest-json", "smithy-rpc-v2-cbor"})


def family_for(service: str, protocol: str | None = None) -> Family:
    """The error family of a service (signing name), refined by its wire protocol."""
    if service == "s3" or protocol == "rest-xml" and service.startswith("s3"):
        return Family.S3
    if service == "ec2" or protocol == "ec2":
        return Family.EC2
    if protocol in _JSON_PROTOCOLS:
        return Family.JSON
    return Family.QUERY


_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_S3_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
_EC2_AUTH = "AWS was not able to validate the provided access credentials"
_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"


def _amz(t: datetime) -> str:
    return t.strftime("%Y%m%dT%H%M%SZ")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def signature_mismatch(
    family: Family,
    *,
    access_key_id: str = "",
    string_to_sign: str | None = None,
    signature: str = "",
    canonical_request: str | None = None,
) -> AwsError:
    """The signature the client sent is not the one its secret gives."""
    if family is Family.S3:
        fields: dict[str, Any] = {"AWSAccessKeyId": access_key_id}
        if string_to_sign is not None:
            fields["StringToSign"] = string_to_sign
        fields["SignatureProvided"] = signature
        if canonical_request is not None:
            fields["CanonicalRequest"] = canonical_request
        return AwsError(_S3_MISMATCH, code="SignatureDoesNotMatch", status=403, **fields)
    if family is Family.EC2:
        return AwsError(_EC2_AUTH, code="AuthFailure", status=401)
    if family is Family.JSON:
        return AwsError(_MISMATCH, code="InvalidSignatureException", status=400)
    return AwsError(_MISMATCH, code="SignatureDoesNotMatch", status=403)


def unknown_access_key(family: Family, access_key_id: str) -> AwsError:
    """The access key id is not known (or not active)."""
    if family is Family.S3:
        return AwsError(
            "The AWS Access Key Id you provided does not exist in our records.",
            code="InvalidAccessKeyId",
            status=403,
            AWSAccessKeyId=access_key_id,
        )
    if family is Family.EC2:
        return AwsError(_EC2_AUTH, code="AuthFailure", status=401)
    if family is Family.JSON:
        return AwsError(_INVALID_TOKEN, code="UnrecognizedClientException", status=400)
    return AwsError(_INVALID_TOKEN, code="InvalidClientTokenId", status=403)


def invalid_token(family: Family) -> AwsError:
    """The session token does not belong to the access key."""
    if family is Family.S3:
        return AwsError(
            "The provided token is malformed or otherwise invalid.", code="InvalidToken", status=400
        )
    if family is Family.EC2:
        return AwsError(_EC2_AUTH, code="AuthFailure", status=401)
    if family is Family.JSON:
        return AwsError(_INVALID_TOKEN, code="UnrecognizedClientException", status=400)
    return AwsError(_INVALID_TOKEN, code="InvalidClientTokenId", status=403)


def expired_token(family: Family) -> AwsError:
    """The temporary credential has expired."""
    if family is Family.S3:
        return AwsError("The provided token has expired.", code="ExpiredToken", status=400)
    if family is Family.EC2:
        return AwsError("Request has expired.", code="RequestExpired", status=400)
    if family is Family.JSON:
        return AwsError(_EXPIRED_TOKEN, code="ExpiredTokenException", status=400)
    return AwsError(_EXPIRED_TOKEN, code="ExpiredToken", status=403)


def missing_authentication(family: Family) -> AwsError:
    """The request carries no authentication and the operation needs one."""
    if family is Family.S3:
        return AwsError("Access Denied", code="AccessDenied", status=403)
    if family is Family.EC2:
        return AwsError(
            "The request must contain the parameter AWSAccessKeyId",
            code="MissingParameter",
            status=400,
        )
    if family is Family.JSON:
        return AwsError(
            "Missing Authentication Token", code="MissingAuthenticationTokenException", status=400
        )
    return AwsError(
        "Request is missing Authentication Token", code="MissingAuthenticationToken", status=403
    )


def incomplete_signature(family: Family, detail: str, *, presigned: bool = False) -> AwsError:
    """The signature is malformed: a missing part, a bad credential scope..."""
    if family is Family.S3:
        if presigned:
            return AwsError(detail, code="AuthorizationQueryParametersError", status=400)
        return AwsError(
            f"The authorization header is malformed; {detail}",
            code="AuthorizationHeaderMalformed",
            status=400,
        )
    if family is Family.JSON:
        return AwsError(detail, code="IncompleteSignatureException", status=400)
    return AwsError(detail, code="IncompleteSignature", status=400)


def request_time_skewed(
    family: Family, request_time: datetime, server_time: datetime, skew: timedelta
) -> AwsError:
    """The request's date is further from the server clock than the allowed skew."""
    if family is Family.S3:
        return AwsError(
            "The difference between the request time and the current time is too large.",
            code="RequestTimeTooSkewed",
            status=403,
            RequestTime=_amz(request_time),
            ServerTime=_iso(server_time),
            MaxAllowedSkewMilliseconds=str(int(skew.total_seconds() * 1000)),
        )
    if family is Family.EC2:
        return AwsError("Request has expired.", code="RequestExpired", status=400)
    minutes = int(skew.total_seconds() // 60)
    if request_time < server_time:
        message = (
            f"Signature expired: {_amz(request_time)} is now earlier than "
            f"{_amz(server_time - skew)} ({_amz(server_time)} - {minutes} min.)"
        )
    else:
        message = (
            f"Signature not yet current: {_amz(request_time)} is still later than "
            f"{_amz(server_time + skew)} ({_amz(server_time)} + {minutes} min.)"
        )
    code = "InvalidSignatureException" if family is Family.JSON else "SignatureDoesNotMatch"
    return AwsError(message, code=code, status=400 if family is Family.JSON else 403)


def presigned_expired(
    family: Family, server_time: datetime, *, expires: datetime, expires_seconds: int | None
) -> AwsError:
    """A presigned URL (or SigV2 ``Expires``) is past its expiry."""
    if family is Family.S3:
        fields: dict[str, Any] = {"Expires": _iso(expires), "ServerTime": _iso(server_time)}
        if expires_seconds is not None:
            fields["X-Amz-Expires"] = str(expires_seconds)
        return AwsError("Request has expired", code="AccessDenied", status=403, **fields)
    return AwsError("Request has expired.", code="RequestExpired", status=400)


def presigned_not_yet_valid(family: Family) -> AwsError:
    """A presigned URL dated further in the future than the allowed skew."""
    if family is Family.S3:
        return AwsError("Request is not valid yet", code="AccessDenied", status=403)
    return AwsError("Request is not valid yet.", code="RequestExpired", status=400)


def content_sha256_mismatch(family: Family, client: str, computed: str) -> AwsError:
    """``x-amz-content-sha256`` differs from the hash of the body received."""
    if family is Family.S3:
        return AwsError(
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            code="XAmzContentSHA256Mismatch",
            status=400,
            ClientComputedContentSHA256=client,
            S3ComputedContentSHA256=computed,
        )
    return signature_mismatch(family)


def invalid_content_sha256(family: Family) -> AwsError:
    """``x-amz-content-sha256`` is neither a hash nor a known marker."""
    if family is Family.S3:
        return AwsError(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
            "or a valid sha256 value.",
            code="InvalidArgument",
            status=400,
            ArgumentName="x-amz-content-sha256",
        )
    return signature_mismatch(family)


def headers_not_signed(family: Family, names: list[str]) -> AwsError:
    """S3: ``x-amz-*`` headers present but not covered by the signature."""
    if family is Family.S3:
        return AwsError(
            "There were headers present in the request which were not signed",
            code="AccessDenied",
            status=403,
            HeadersNotSigned=", ".join(names),
        )
    return signature_mismatch(family)


def unsupported_authorization(family: Family) -> AwsError:
    """An Authorization header of a scheme this cloud does not speak."""
    if family is Family.S3:
        return AwsError(
            "Unsupported Authorization Type",
            code="InvalidArgument",
            status=400,
            ArgumentName="Authorization",
        )
    return incomplete_signature(
        family, "Authorization header requires a supported algorithm (AWS4-HMAC-SHA256)."
    )
