"""Every table of the cloud, imported so alembic and tests see one metadata."""

from __future__ import annotations

from cloudctl.db.base import Base
from cloudctl.properties.models import PropertyValue
from cloudctl.services.ec2.compute_models import COMPUTE_TABLES  # noqa: F401
from cloudctl.services.ec2.ebs_models import Snapshot, SnapshotPermission, Volume  # noqa: F401
from cloudctl.services.geography import Zone
from cloudctl.services.iam.federation_models import FEDERATION_TABLES  # noqa: F401
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
from cloudctl.services.network.models import (  # noqa: F401
    AddressRow,
    HostStatusRow,
    InstanceGroupRow,
    InstanceNicRow,
    NetworkStateRow,
    SecurityGroupRow,
    SecurityGroupRuleRow,
)
from cloudctl.services.s3.models import S3Bucket, S3LogRecord, S3Object, S3Part, S3Upload

metadata = Base.metadata

__all__ = ["AccessKey", "Account", "PropertyValue", "S3Bucket", "S3LogRecord", "S3Object", "S3Part",
           "S3Upload",
           "User", "Zone", "metadata"]
