"""Browser uploads: POST of a multipart/form-data form to a bucket (POST policy).

Owns reading the form: the fields before ``file`` are read in bounded chunks (at most
``MAX_FIELDS`` of them, ``MAX_FIELD_BYTES`` each, ``MAX_PRE_DATA_BYTES`` together, else
MaxPostPreDataLengthExceeded as S3 answers), then the file is streamed into the object
only once the policy and signature were checked (never held whole; fields after it are
ignored, as S3 requires ``file`` to be the last field). Checking the signed policy
document (SigV4: ``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``, ``x-amz-signature``; SigV2: ``AWSAccessKeyId``,
``signature``), its expiration and conditions (``eq``, ``starts-with``,
``content-length-range``; every form field must be covered, as AWS requires), and
answering ``success_action_status`` / ``success_action_redirect``. The upload itself
is a PutObject by the signer (or an anonymous caller when the form is unsigned), so
the usual authorisation (IAM policies, bucket policy, ACLs), encryption and
consistency rules apply. The request pipeline calls ``handle`` for such POSTs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import BodyPartReader
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from cloudctl.auth.context import usable_credential
from cloudctl.auth.errors import Family
from cloudctl.auth.sigv4 import signing_key
from cloudctl.protocol.wire import WireRequest, WireResponse
from cloudctl.server.cloud import Cloud
from cloudctl.server.context import RequestContext
from cloudctl.services.s3.errors import invalid_argument, s3_error

MAX_FIELDS = 100  # form fields before ``file``
MAX_FIELD_BYTES = 20 << 10  # one field's value (S3's whole pre-data limit is 20 KB)
MAX_PRE_DATA_BYTES = 64 << 10  # names and values of all fields before ``file``
_CHUNK = 8192
# what aiohttp's multipart reader raises on a body that is not multipart/form-data
_MALFORMED = (ValueError, KeyError, RuntimeError, AssertionError, HttpProcessingError)
_EXEMPT = {"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"}
_PARAMS = {"content-type": "ContentType", "cache-control": "CacheControl",
           "content-disposition": "ContentDisposition", "content-encoding": "ContentEncoding",
           "expires": "Expires", "acl": "ACL", "x-amz-storage-class": "StorageClass",
           "x-amz-server-side-encryption": "ServerSideEncryption", "tagging": "Tagging",
           "x-amz-website-redirect-location": "WebsiteRedirectLocation"}


def _policy_error(message: str) -> Exception:
    return s3_error("AccessDenied", f"Invalid according to Policy: {message}", 403)


def check_policy(policy_b64: str, fields: dict[str, str], bucket: str,
                 now: datetime) -> tuple[int, int] | None:
    """Check the policy against the form; the content-length-range, if any."""
    try:
        policy = json.loads(base64.b64decode(policy_b64))
    except (ValueError, TypeError):
        raise invalid_argument("Invalid Policy: Invalid JSON.", "policy") from None
    expiration = str(policy.get("expiration") or "")
    try:
        expires = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except ValueError:
        raise invalid_argument("Invalid Policy: Invalid 'expiration' value: "
                               f"'{expiration}'", "policy") from None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if expires < now:
        raise _policy_error("Policy expired.")
    values = {**{k.lower(): v for k, v in fields.items()}, "bucket": bucket}
    covered = {"bucket"}
    length: tuple[int, int] | None = None
    for condition in policy.get("conditions") or []:
        if isinstance(condition, dict):
            if len(condition) != 1:
                raise invalid_argument("Invalid Policy: Invalid Simple-Condition: Simple-"
                                       "Conditions must have exactly one property specified.",
                                       "policy")
            ((name, expected),) = condition.items()
            op, name = "eq", "$" + name
        elif isinstance(condition, list) and len(condition) == 3:
            op, name, expected = str(condition[0]).lower(), condition[1], condition[2]
        else:
            raise invalid_argument("Invalid Policy: Invalid Condition.", "policy")
        if op == "content-length-range":
            length = (int(name), int(expected))
            continue
        field = str(name).lstrip("$").lower()
        covered.add(field)
        actual = values.get(field, "")
        if op == "eq" and actual != str(expected):
            raise _policy_error(f'Policy Condition failed: ["eq", "${field}", "{expected}"]')
        if op == "starts-with" and not actual.startswith(str(expected)):
            raise _policy_error(f'Policy Condition failed: ["starts-with", "${field}", '
                                f'"{expected}"]')
        if op not in ("eq", "starts-with"):
            raise invalid_argument(f"Invalid Policy: Invalid condition operator {op}.",
                                   "policy")
    for field in values:
        if field not in covered and field not in _EXEMPT and not field.startswith("x-ignore-"):
            raise _policy_error(f"Extra input fields: {field}")
    return length


def _malformed() -> Exception:
    return s3_error("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                    "multipart/form-data.")


def _too_large(limit: int) -> Exception:
    # S3's message, spelling included
    return s3_error("MaxPostPreDataLengthExceeded", "Your POST request fields preceeding the "
                    "upload file was too large.", MaxPostPreDataLengthBytes=limit)


async def _field_value(part: BodyPartReader, limit: int) -> bytes:
    """A field's value, read in chunks; refused as soon as it passes ``limit`` bytes."""
    value = bytearray()
    while True:
        chunk = await part.read_chunk(_CHUNK)
        if not chunk:
            return bytes(value)
        value += chunk
        if len(value) > limit:
            raise _too_large(limit)


async def read_fields(reader: Any) -> tuple[dict[str, str], BodyPartReader]:
    """The fields before ``file`` (bounded) and the file part, not read yet."""
    fields: dict[str, str] = {}
    total = count = 0
    try:
        part = await reader.next()
        while part is not None:
            if not isinstance(part, BodyPartReader):
                raise _malformed()  # a nested multipart body
            name = str(part.name or "")
            if name == "file":
                return fields, part
            count += 1  # repeated names count too
            if count > MAX_FIELDS:
                raise _too_large(MAX_PRE_DATA_BYTES)
            value = await _field_value(part, min(MAX_FIELD_BYTES, MAX_PRE_DATA_BYTES - total))
            total += len(name) + len(value)
            if total > MAX_PRE_DATA_BYTES:
                raise _too_large(MAX_PRE_DATA_BYTES)
            fields[name] = value.decode("utf-8", "replace")
            part = await reader.next()
    except _MALFORMED:
        raise _malformed() from None
    raise invalid_argument("POST requires exactly one file upload per request.", "file")


class _FileStream:
    """The form's file part as a ``BodyStream``, enforcing content-length-range."""

    def __init__(self, part: Any, length: tuple[int, int] | None) -> None:
        self._part = part
        self._length = length
        self.size = 0

    async def read(self, n: int = -1) -> bytes:
        try:
            data: bytes = await self._part.read_chunk(1 << 20 if n < 0 else max(n, _CHUNK))
        except _MALFORMED:
            raise _malformed() from None
        self.size += len(data)
        if self._length is not None:
            if self.size > self._length[1]:
                raise s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum "
                               "allowed size", MaxSizeAllowed=self._length[1])
            if not data and self.size < self._length[0]:
                raise s3_error("EntityTooSmall", "Your proposed upload is smaller than the "
                               "minimum allowed size", MinSizeAllowed=self._length[0])
        return data


class PostUploads:
    """Serves form uploads (through S3's request hook, ``hook.py``)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    async def _signer(self, fields: dict[str, str], policy: str) -> Any:
        lowered = {k.lower(): v for k, v in fields.items()}
        if "x-amz-signature" in lowered:
            if lowered.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
                raise invalid_argument("Only AWS4-HMAC-SHA256 is supported", "x-amz-algorithm")
            parts = lowered.get("x-amz-credential", "").split("/")
            if len(parts) != 5 or parts[4] != "aws4_request":
                raise invalid_argument("Invalid credential", "x-amz-credential")
            access_key, secret_of = parts[0], parts
        elif "signature" in lowered and "awsaccesskeyid" in lowered:
            access_key, secret_of = lowered["awsaccesskeyid"], []
        else:
            raise invalid_argument("Bucket POST must contain a field named 'x-amz-signature' "
                                   "(or 'signature' and 'AWSAccessKeyId')")
        # the same credential check as every signed request: known, active, token, expiry
        credential = await usable_credential(self.cloud.credentials, Family.S3, access_key,
                                             lowered.get("x-amz-security-token"),
                                             datetime.now(UTC))
        if secret_of:
            key = signing_key(credential.secret_access_key, secret_of[1], secret_of[2], "s3")
            expected = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
            given = lowered["x-amz-signature"]
        else:
            expected = base64.b64encode(hmac.digest(credential.secret_access_key.encode(),
                                                    policy.encode(), "sha1")).decode()
            given = lowered["signature"]
        if not hmac.compare_digest(expected, given):
            raise s3_error("SignatureDoesNotMatch", "The request signature we calculated does "
                           "not match the signature you provided. Check your key and signing "
                           "method.", 403)
        return credential

    async def handle(self, wire: WireRequest, path: str,
                     open_form: Callable[[], Awaitable[Any]], request_id: str) -> WireResponse:
        """Serve the POST; ``open_form`` opens the body's multipart reader."""
        bucket = path.strip("/").split("/", 1)[0]
        if not bucket or "/" in path.strip("/"):
            raise s3_error("MethodNotAllowed", "The specified method is not allowed against "
                           "this resource.", 405)
        try:
            reader = await open_form()
        except _MALFORMED:
            raise _malformed() from None
        fields, part = await read_fields(reader)
        if "key" not in fields:
            raise invalid_argument("Bucket POST must contain a field named 'key'.  If it is "
                                   "specified, please check the order of the fields.", "key")
        fields["key"] = fields["key"].replace("${filename}", part.filename or "")
        credential, length = None, None
        lowered = {k.lower(): v for k, v in fields.items()}
        if "policy" in lowered:
            credential = await self._signer(fields, lowered["policy"])
            length = check_policy(lowered["policy"], fields, bucket, datetime.now(UTC))
        params: dict[str, Any] = {"Bucket": bucket, "Key": fields["key"],
                                  "Metadata": {k[len("x-amz-meta-"):]: v
                                               for k, v in lowered.items()
                                               if k.startswith("x-amz-meta-")}}
        for name, param in _PARAMS.items():
            if name in lowered:
                params[param] = lowered[name]
        stream = _FileStream(part, length)
        params["Body"] = stream
        ctx = RequestContext(request_id=request_id, service="s3", operation="PutObject",
                             region=self.cloud.region, credential=credential,
                             wire=replace(wire, headers=CIMultiDict()), source_ip=wire.remote)
        from cloudctl.services.s3.objects import ObjectProvider

        provider = next(p for p in self.cloud.providers if isinstance(p, ObjectProvider))
        out = await provider.put_object(ctx, params)
        return self._answer(fields, lowered, bucket, params["Key"], out)

    def _answer(self, fields: dict[str, str], lowered: dict[str, str], bucket: str, key: str,
                out: dict[str, Any]) -> WireResponse:
        etag = str(out["ETag"])
        location = f"/{bucket}/{key}"
        headers = {"ETag": etag, "Location": location}
        redirect = lowered.get("success_action_redirect") or lowered.get("redirect")
        if redirect:
            query = urlencode({"bucket": bucket, "key": key, "etag": etag})
            headers["Location"] = redirect + ("&" if "?" in redirect else "?") + query
            return WireResponse(303, headers, b"")
        status = lowered.get("success_action_status", "204")
        if status == "201":
            # PostResponse is not in the botocore model: the one document built here
            body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>"
                    f"<Location>{_xml(location)}</Location><Bucket>{_xml(bucket)}</Bucket>"
                    f"<Key>{_xml(key)}</Key><ETag>{_xml(etag)}</ETag></PostResponse>")
            headers["Content-Type"] = "application/xml"
            return WireResponse(201, headers, body.encode())
        return WireResponse(200 if status == "200" else 204, headers, b"")


def _xml(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text, {'"': "&quot;"})

