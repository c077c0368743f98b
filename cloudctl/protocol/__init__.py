"""Wire protocols driven by the pinned botocore service models.

Owns parsing requests into plain data and serializing plain data (or an
``AwsError``) into responses for the ``query``, ``ec2``, ``rest-xml``, ``json`` and
``smithy-rpc-v2-cbor`` protocols. Knows no service and imports no provider.
"""

from cloudctl.protocol.codec import (
    ServiceCodec,
    UnknownOperation,
    codec_for,
    detect_protocol,
    service_model,
)
from cloudctl.protocol.wire import ParsedRequest, WireRequest, WireResponse

__all__ = [
    "ParsedRequest",
    "ServiceCodec",
    "UnknownOperation",
    "WireRequest",
    "WireResponse",
    "codec_for",
    "detect_protocol",
    "service_model",
]
