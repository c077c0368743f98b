"""The IAM policy engine: grammar, validation and evaluation of AWS policy documents.

Owns the policy language (statements, actions, resources, principals, every
condition operator, policy variables) and the AWS evaluation logic (explicit deny
beats allow beats implicit deny). It knows nothing of the database or the wire:
callers hand it documents and a request description. Compiled policies are
cached by document hash, so evaluating the same documents again is cheap.

Public API (other services code against this; it stays stable)::

    from cloudctl.services.iam.policy import (
        AuthzRequest, Decision, PolicyError, compile_policy, evaluate, validate_policy)

    request = AuthzRequest(
        action="s3:GetObject",                          # "<iam prefix>:<Operation>"
        resources=("arn:aws:s3:::bucket/key",),         # ARNs; ("*",) when none applies
        principal_arn="arn:aws:iam::123456789012:user/alice",  # "*"/"" for anonymous
        principal_account="123456789012",               # None for anonymous
        principal_type="user",     # root | user | assumed-role | federated-user | anonymous
        principal_ids=("arn:aws:iam::123456789012:role/r",),  # extra ids a Principal may name
        context={"aws:SourceIp": "10.0.0.1", "s3:prefix": ["photos/"]},
    )   # context keys are case-insensitive; values str | bool | int | list of those

    decision = evaluate(
        request,
        identity_policies=[doc, ...],     # JSON text, dict or CompiledPolicy (caller's)
        resource_policy=bucket_policy,    # JSON text / dict / CompiledPolicy / None
        resource_account="123456789012",  # owner of the resource (needed with a
                                          # resource policy: cross-account needs both)
        session_policies=None,            # STS session policies: intersect identity
    )
    decision.allowed   # bool
    decision.effect    # "Allow" | "Deny" (explicit) | "ImplicitDeny"
    decision.statement # the Sid (or index) of the deciding statement, for logs

    validate_policy(text, kind="identity" | "resource" | "trust")  # raises PolicyError
    # PolicyError.message is AWS's MalformedPolicyDocument message.

The request authorizer (``cloudctl.services.authz``) builds ``AuthzRequest`` for
every API call. A service that has resource policies (S3 bucket policies)
registers, in ``cloudctl.services.authz.declare(service, ...)``, how to name the
resources of an operation and an async hook returning ``(policy, owner_account)``
for them; the authorizer then combines identity and resource policies itself.
"""

from cloudctl.services.iam.policy.document import (
    CompiledPolicy,
    PolicyKind,
    compile_policy,
    validate_policy,
)
from cloudctl.services.iam.policy.errors import PolicyError
from cloudctl.services.iam.policy.evaluate import AuthzRequest, Decision, PolicySet, evaluate

__all__ = [
    "AuthzRequest",
    "CompiledPolicy",
    "Decision",
    "PolicyError",
    "PolicyKind",
    "PolicySet",
    "compile_policy",
    "evaluate",
    "validate_policy",
]
