"""Installs the S3 service into a cloud process (S3's ``ServiceSpec`` install)."""

from __future__ import annotations

from cloudctl.server.cloud import Cloud
from cloudctl.services.s3 import properties as _properties  # noqa: F401 - defines properties
from cloudctl.services.s3.store import StoreHolder

# IAM actions of the bucket-feature operations not named s3:<Operation>
FEATURE_ACTIONS: dict[str, str | None] = {
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "DeleteBucketOwnershipControls": "s3:PutBucketOwnershipControls",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutBucketReplication": "s3:PutReplicationConfiguration",
    "GetBucketReplication": "s3:GetReplicationConfiguration",
    "DeleteBucketReplication": "s3:PutReplicationConfiguration",
    "PutBucketAccelerateConfiguration": "s3:PutAccelerateConfiguration",
    "GetBucketAccelerateConfiguration": "s3:GetAccelerateConfiguration",
    "PutBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "GetBucketInventoryConfiguration": "s3:GetInventoryConfiguration",
    "ListBucketInventoryConfigurations": "s3:GetInventoryConfiguration",
    "DeleteBucketInventoryConfiguration": "s3:PutInventoryConfiguration",
    "GetObjectAttributes": "s3:GetObjectAttributes",
}


def install(cloud: Cloud) -> None:
    from cloudctl.services import authz
    from cloudctl.services.s3 import account_access, pgsql
    from cloudctl.services.s3.access import (
        ACTIONS,
        BucketPolicies,
        operation_action,
        operation_context,
        operation_resources,
    )
    from cloudctl.services.s3.access_log import LoggingProvider
    from cloudctl.services.s3.archive import RestoreProvider
    from cloudctl.services.s3.attributes import AttributesProvider
    from cloudctl.services.s3.base import POLICIES, STORE
    from cloudctl.services.s3.bucket_options import BucketOptionsProvider
    from cloudctl.services.s3.buckets import BucketProvider
    from cloudctl.services.s3.config import ConfigProvider
    from cloudctl.services.s3.copy import CopyProvider
    from cloudctl.services.s3.cors import Cors
    from cloudctl.services.s3.hook import HOOK, S3RequestHook
    from cloudctl.services.s3.inventory import InventoryProvider
    from cloudctl.services.s3.listing import ListingProvider
    from cloudctl.services.s3.multipart import MultipartProvider
    from cloudctl.services.s3.object_lock import ObjectLockProvider
    from cloudctl.services.s3.objects import ObjectProvider
    from cloudctl.services.s3.ownership import OwnershipProvider
    from cloudctl.services.s3.post import PostUploads
    from cloudctl.services.s3.public_access import PublicAccessProvider
    from cloudctl.services.s3.reconcile import ReconcileProvider
    from cloudctl.services.s3.replication import ReplicationProvider
    from cloudctl.services.s3.storage_metrics import StorageMetricsProvider
    from cloudctl.services.s3.website import WebsiteEndpoint, WebsiteProvider

    cloud.runtime[STORE] = StoreHolder(cloud)
    policies = BucketPolicies(cloud)
    cloud.runtime[POLICIES] = policies
    hook = S3RequestHook(Cors(policies), PostUploads(cloud), WebsiteEndpoint(cloud),
                         lambda: pgsql.for_cloud(cloud))
    cloud.runtime[HOOK] = hook
    cloud.hooks.append(hook)
    ACTIONS.update(FEATURE_ACTIONS)
    authz.declare("s3", operation_resources, policies.lookup, actions=operation_action,
                  acl_fallback=True, context=operation_context)
    cloud.runtime[account_access.BLOCKS] = account_access.AccountBlocks(cloud)
    authz.declare("s3control", actions=account_access.operation_action)
    cloud.add_provider(account_access.AccountPublicAccessProvider(cloud))
    for provider_cls in (BucketProvider, ObjectProvider, ListingProvider, MultipartProvider,
                         CopyProvider, ConfigProvider, ReconcileProvider, RestoreProvider,
                         PublicAccessProvider, OwnershipProvider, ObjectLockProvider,
                         AttributesProvider, LoggingProvider, WebsiteProvider,
                         ReplicationProvider, BucketOptionsProvider, InventoryProvider,
                         StorageMetricsProvider):
        cloud.add_provider(provider_cls(cloud))
