"""The front door's authorisation: admin-only services and account boundaries.

Until the IAM policy engine is wired in, this authorizer refuses anonymous callers
(except for S3, which decides per bucket) and keeps the Eucalyptus admin services
(Properties, Empyrean) to the cloud administrator (the ``eucalyptus`` account's
admin). The policy engine replaces it through ``cloud.authorizer``.
"""

from __future__ import annotations

from cloudctl.errors import AccessDenied, AwsError
from cloudctl.protocol.wire import ParsedRequest
from cloudctl.server.context import RequestContext

ADMIN_SERVICES = frozenset({"properties", "empyrean"})


def is_cloud_admin(ctx: RequestContext) -> bool:
    return bool(ctx.credential and ctx.credential.attributes.get("cloud_admin"))


class BasicAuthorizer:
    async def authorize(self, ctx: RequestContext, parsed: ParsedRequest) -> None:
        if ctx.credential is None and ctx.service != "s3":
            raise AwsError("Request is missing Authentication Token",
                           code="MissingAuthenticationToken", status=403)
        if ctx.service in ADMIN_SERVICES and not is_cloud_admin(ctx):
            raise AccessDenied("You are not authorized to interact with this service.")
