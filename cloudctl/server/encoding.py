"""Compressed request bodies of the query and JSON services (``Content-Encoding``).

aiohttp's own decompression is off (S3 stores a ``Content-Encoding: gzip`` object as
the client sent it, as AWS does). The SDKs compress some requests of the other
services (botocore's ``requestcompression`` trait: CloudWatch ``PutMetricData``);
the signature covers the compressed bytes, so they are opened here, after
authentication, within the request-size limit. A body that does not decode answers
``MalformedInput`` (400); an encoding the cloud does not know, ``UnsupportedMediaType``.
"""

from __future__ import annotations

import zlib

from cloudctl.errors import AwsError, RequestEntityTooLarge

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decoded_body(content_encoding: str | None, body: bytes, limit: int) -> bytes:
    """``body`` with its content codings (``gzip``, ``deflate``; ``identity``) removed."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("identity", "aws-chunked"):
            continue
        wbits = _WBITS.get(coding)
        if wbits is None:
            raise AwsError(f"Content-Encoding {coding!r} is not supported.",
                           code="UnsupportedMediaType", status=415)
        decoder = zlib.decompressobj(wbits)
        try:
            body = decoder.decompress(body, limit + 1)
        except zlib.error:
            raise AwsError(f"The request body is not valid {coding} data.",
                           code="MalformedInput", status=400) from None
        if len(body) > limit or decoder.unconsumed_tail:
            raise RequestEntityTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        if not decoder.eof:
            raise AwsError(f"The request body is not valid {coding} data.",
                           code="MalformedInput", status=400)
    return body
