"""Who may do what to a bucket or object: bucket policy, then ownership, then ACLs.

Evaluation order: an explicit Deny in the bucket policy refuses; an Allow in it
grants (also to other accounts and to anonymous callers); the owning account may
do anything (its users' identity policies are the request authorizer's concern);
otherwise the ACL of the object (object operations) or of the bucket decides.
Bucket policies are evaluated by the IAM policy engine
(``cloudctl.services.iam.policy.evaluate``).
"""

from __future__ import annotations

from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3.errors import access_denied, s3_error
from cloudctl.services.s3.models import S3Bucket


def _policy_effect(ctx: RequestContext, policy: str, owner_account: str, action: str,
                   resource: str) -> str:
    from cloudctl.services.iam import policy as engine

    evaluate: Any = getattr(engine, "evaluate", None)
    request_cls: Any = getattr(engine, "AuthzRequest", None)
    if evaluate is None or request_cls is None:
        return "ImplicitDeny"  # engine not landed yet: ACLs and ownership decide
    cred = ctx.credential
    request = request_cls(
        action=action,
        resources=(resource,),
        principal_arn=cred.principal_arn if cred else "*",
        principal_account=cred.account_id if cred else None,
        principal_type=cred.principal_type if cred else "anonymous",
        context={"aws:SourceIp": ctx.source_ip, "aws:SecureTransport": ctx.wire.scheme == "https"},
    )
    decision = evaluate(request, identity_policies=[], resource_policy=policy,
                        resource_account=owner_account)
    return str(decision.effect)


def validate_policy(text: str) -> None:
    from cloudctl.services.iam import policy as engine

    validate: Any = getattr(engine, "validate_policy", None)
    if validate is None:
        return
    try:
        validate(text, kind="resource")
    except ValueError as exc:
        raise s3_error("MalformedPolicy", str(getattr(exc, "message", exc))) from None


def check(ctx: RequestContext, bucket: S3Bucket, action: str, permission: str, *,
          key: str | None = None, object_acl: str | None = None,
          object_owner: str | None = None, caller_canonical: str | None = None) -> None:
    """Raise AccessDenied unless the caller may perform ``action`` (``s3:GetObject``...)."""
    caller = ctx.account_id
    if bucket.policy:
        resource = f"arn:aws:s3:::{bucket.name}" + (f"/{key}" if key is not None else "")
        effect = _policy_effect(ctx, bucket.policy, bucket.account_id, action, resource)
        if effect == "Deny":
            raise access_denied()
        if effect == "Allow":
            return
    if caller is not None and (caller == bucket.account_id or caller == object_owner):
        return
    document = acls.load(object_acl if key is not None and object_acl else bucket.acl)
    if acls.grants(document, caller_canonical, caller is not None, permission):
        return
    raise access_denied()
