"""Installs the S3 service into a cloud process (called from ``services.assemble``)."""

from __future__ import annotations

from cloudctl.server.cloud import Cloud
from cloudctl.services.s3 import properties as _properties  # noqa: F401 - defines properties
from cloudctl.services.s3.store import StoreHolder


def install(cloud: Cloud) -> None:
    from cloudctl.services import authz
    from cloudctl.services.s3.access import (
        BucketPolicies,
        operation_action,
        operation_context,
        operation_resources,
    )
    from cloudctl.services.s3.archive import RestoreProvider
    from cloudctl.services.s3.base import POLICIES, STORE
    from cloudctl.services.s3.buckets import BucketProvider
    from cloudctl.services.s3.config import ConfigProvider
    from cloudctl.services.s3.copy import CopyProvider
    from cloudctl.services.s3.cors import Cors
    from cloudctl.services.s3.hook import HOOK, S3RequestHook
    from cloudctl.services.s3.listing import ListingProvider
    from cloudctl.services.s3.multipart import MultipartProvider
    from cloudctl.services.s3.objects import ObjectProvider
    from cloudctl.services.s3.post import PostUploads
    from cloudctl.services.s3.reconcile import ReconcileProvider

    cloud.runtime[STORE] = StoreHolder(cloud)
    policies = BucketPolicies(cloud)
    cloud.runtime[POLICIES] = policies
    hook = S3RequestHook(Cors(policies), PostUploads(cloud))
    cloud.runtime[HOOK] = hook
    cloud.hooks.append(hook)
    authz.declare("s3", operation_resources, policies.lookup, actions=operation_action,
                  acl_fallback=True, context=operation_context)
    for provider_cls in (BucketProvider, ObjectProvider, ListingProvider, MultipartProvider,
                         CopyProvider, ConfigProvider, ReconcileProvider, RestoreProvider):
        cloud.add_provider(provider_cls(cloud))
