"""Every table of the cloud, imported so alembic and tests see one metadata."""

from __future__ import annotations

from cloudctl.db.base import Base
from cloudctl.properties.models import PropertyValue
from cloudctl.services.geography import Zone
from cloudctl.services.ec2.compute_models import COMPUTE_TABLES  # noqa: F401
from cloudctl.services.iam.models import (  # noqa: F401  (IAM/STS tables)
    AccessKey,
    Account,
    AccountSettings,
    Group,
    GroupMember,
    InlinePolicy,
    InstanceProfile,
    LoginProfile,
    ManagedPolicy,
    PolicyAttachment,
    PolicyVersion,
    Role,
    ServerCertificate,
    SigningCertificate,
    StsSession,
    User,
)

metadata = Base.metadata

__all__ = ["AccessKey", "Account", "PropertyValue", "User", "Zone", "metadata"]
