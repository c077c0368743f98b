"""Wire protocols driven by the pinned botocore service models.

Owns parsing requests into plain data and serializing plain data (or an
``AwsError``) into responses for the ``query``, ``ec2``, ``rest-xml``, ``json`` and
``smithy-rpc-v2-cbor`` protocols. Knows no service and imports no provider.
"""
