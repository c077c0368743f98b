"""Request authentication: SigV4 (header and presigned), SigV2 (query and S3 HmacV1).

Owns verifying who sent a request; it must not decide what they may do (that is
the policy engine's job) and must not import providers, the server or the database:
credentials come through the ``CredentialStore`` protocol the caller passes in.
"""
