"""Request payment, transfer acceleration and inventory configurations of a bucket.

- Request payment (``Put/GetBucketRequestPayment``): with ``Requester``, a request
  by anyone but the bucket owner's account must carry ``x-amz-request-payer:
  requester`` (else AccessDenied; anonymous requests are always refused), checked for
  every bucket and object operation (``check_payer``, called by ``S3Provider.authorize``).
- Acceleration (``Put/GetBucketAccelerateConfiguration``): this cloud has no
  acceleration endpoints; the status is stored and answered, and names with dots are
  refused as AWS refuses them.
- Inventory (``Put/Get/List/DeleteBucketInventoryConfiguration``): validated and stored;
  the reports are written by the inventory controller (``inventory.py``), woken here.
"""

from __future__ import annotations

import re
from typing import Any

from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3.base import S3Provider, dumps, loads
from cloudctl.services.s3.errors import access_denied, invalid_argument, malformed_xml, s3_error
from cloudctl.services.s3.inventory import INVENTORY
from cloudctl.services.s3.models import S3Bucket

REQUESTER = "Requester"
PAYER_HEADER = "x-amz-request-payer"
_INVENTORY_ID = re.compile(r"^[\w.-]{1,64}\Z")
INVENTORY_FIELDS = ("Size", "LastModifiedDate", "StorageClass", "ETag", "IsMultipartUploaded",
                    "ReplicationStatus", "EncryptionStatus", "ObjectLockRetainUntilDate",
                    "ObjectLockMode", "ObjectLockLegalHoldStatus", "IntelligentTieringAccessTier",
                    "BucketKeyStatus", "ChecksumAlgorithm", "ObjectAccessControlList",
                    "ObjectOwner")


def check_payer(ctx: RequestContext, bucket: S3Bucket) -> None:
    """AccessDenied for a non-owner request to a Requester Pays bucket without the header."""
    if bucket.request_payment != REQUESTER or ctx.account_id == bucket.account_id:
        return
    if ctx.operation in ("GetBucketRequestPayment",) and ctx.account_id is not None:
        return
    if ctx.account_id is None \
            or (ctx.wire.header(PAYER_HEADER) or "").strip().lower() != "requester":
        raise access_denied()


def check_inventory(config: dict[str, Any], inventory_id: str) -> dict[str, Any]:
    if not _INVENTORY_ID.match(inventory_id):
        raise invalid_argument("The specified inventory id is not valid", "id", inventory_id)
    if config.get("Id") != inventory_id:
        raise invalid_argument("The specified inventory id does not match the id in the "
                               "configuration", "id", inventory_id)
    destination = ((config.get("Destination") or {}).get("S3BucketDestination") or {})
    if not destination.get("Bucket") or destination.get("Format") not in ("CSV", "ORC",
                                                                           "Parquet"):
        raise malformed_xml()
    if destination["Format"] != "CSV":
        raise invalid_argument("This cloud writes inventory reports as CSV only", "Format",
                               str(destination["Format"]))
    if config.get("IncludedObjectVersions") not in ("All", "Current") \
            or (config.get("Schedule") or {}).get("Frequency") not in ("Daily", "Weekly") \
            or not isinstance(config.get("IsEnabled"), bool):
        raise malformed_xml()
    for name in config.get("OptionalFields") or []:
        if name not in INVENTORY_FIELDS:
            raise invalid_argument("Invalid inventory optional field", "OptionalFields", name)
    return config


class BucketOptionsProvider(S3Provider):
    """Request payment, acceleration and inventory configuration operations."""

    @operation("PutBucketRequestPayment")
    async def put_request_payment(self, ctx: RequestContext,
                                  params: dict[str, Any]) -> dict[str, Any]:
        payer = (params.get("RequestPaymentConfiguration") or {}).get("Payer")
        if payer not in ("Requester", "BucketOwner"):
            raise malformed_xml()
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:PutBucketRequestPayment")
            bucket.request_payment = None if payer == "BucketOwner" else str(payer)
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketRequestPayment")
    async def get_request_payment(self, ctx: RequestContext,
                                  params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetBucketRequestPayment", "READ")
        return {"Payer": bucket.request_payment or "BucketOwner"}

    @operation("PutBucketAccelerateConfiguration")
    async def put_accelerate(self, ctx: RequestContext,
                             params: dict[str, Any]) -> dict[str, Any]:
        status = (params.get("AccelerateConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed_xml()
        if "." in str(params["Bucket"]):
            raise s3_error("InvalidRequest", "S3 Transfer Acceleration is not supported for "
                           "buckets with periods (.) in their names")
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:PutAccelerateConfiguration")
            bucket.accelerate = str(status)
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketAccelerateConfiguration")
    async def get_accelerate(self, ctx: RequestContext,
                             params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"],
                                             "s3:GetAccelerateConfiguration")
        return {"Status": bucket.accelerate} if bucket.accelerate else {}

    async def _inventories(self, ctx: RequestContext, params: dict[str, Any], action: str,
                           change: Any = None) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], action)
            configs: dict[str, Any] = loads(bucket.inventory, {}) or {}
            if change is not None:
                change(configs)
                bucket.inventory = dumps(configs) if configs else None
                await session.commit()
                self.forget(bucket.name)
        return configs

    @operation("PutBucketInventoryConfiguration")
    async def put_inventory(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        inventory_id = str(params.get("Id") or "")
        config = check_inventory(params.get("InventoryConfiguration") or {}, inventory_id)
        target = str(config["Destination"]["S3BucketDestination"]["Bucket"]).removeprefix(
            "arn:aws:s3:::")
        async with self.cloud.sessions() as session:
            if await session.get(S3Bucket, target) is None:
                raise invalid_argument("The destination bucket of the inventory does not "
                                       "exist", "Destination", target)

        def put(configs: dict[str, Any]) -> None:
            if inventory_id not in configs and len(configs) >= 1000:
                raise s3_error("TooManyConfigurations", "You are attempting to create a new "
                               "configuration but have already reached the 1,000-configuration "
                               "limit.")
            configs[inventory_id] = config

        await self._inventories(ctx, params, "s3:PutInventoryConfiguration", put)
        controller = self.cloud.runtime.get(INVENTORY)
        if controller is not None:
            controller.wake(str(params["Bucket"]))
        return {}

    def _missing(self) -> Exception:
        return s3_error("NoSuchConfiguration", "The specified configuration does not exist.",
                        404)

    @operation("GetBucketInventoryConfiguration")
    async def get_inventory(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        configs = await self._inventories(ctx, params, "s3:GetInventoryConfiguration")
        config = configs.get(str(params.get("Id") or ""))
        if config is None:
            raise self._missing()
        return {"InventoryConfiguration": config}

    @operation("ListBucketInventoryConfigurations")
    async def list_inventory(self, ctx: RequestContext,
                             params: dict[str, Any]) -> dict[str, Any]:
        configs = await self._inventories(ctx, params, "s3:GetInventoryConfiguration")
        ids = sorted(configs)
        token = str(params.get("ContinuationToken") or "")
        ids = [i for i in ids if i > token] if token else ids
        page, rest = ids[:100], ids[100:]
        out: dict[str, Any] = {"InventoryConfigurationList": [configs[i] for i in page],
                               "IsTruncated": bool(rest)}
        if token:
            out["ContinuationToken"] = token
        if rest:
            out["NextContinuationToken"] = page[-1]
        return out

    @operation("DeleteBucketInventoryConfiguration")
    async def delete_inventory(self, ctx: RequestContext,
                               params: dict[str, Any]) -> dict[str, Any]:
        inventory_id = str(params.get("Id") or "")

        def drop(configs: dict[str, Any]) -> None:
            if inventory_id not in configs:
                raise self._missing()
            del configs[inventory_id]

        await self._inventories(ctx, params, "s3:PutInventoryConfiguration", drop)
        return {}
