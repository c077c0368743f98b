"""EC2 EBS volumes: Create/Delete/Describe/ModifyVolume, modifications and status.

Each call validates as EC2 does, records the intent in one transaction and wakes
the block reconciler (``cloudctl.services.ec2.ebs.storage``), which performs it; the call
answers at once (``creating``, ``deleting``, a ``modifying`` modification).
Attachment state belongs to the compute part, which sets it through
``cloudctl.services.ec2.ebs.attachments``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import aliased

from cloudctl.db.base import utcnow
from cloudctl.errors import AwsError, MissingParameter
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.ebs import attachments as ebs
from cloudctl.services.ec2.ebs import tags as ebs_tags
from cloudctl.services.ec2.ebs.common import (
    check_ids_with_max_results,
    check_volume_id,
    modification_shape,
    own_attachment,
    own_volume,
    visible_snapshot,
    volume_not_found,
    volume_shape,
)
from cloudctl.services.ec2.ebs.models import (
    MOD_COMPLETED,
    MOD_MODIFYING,
    SNAPSHOT_DELETING,
    SNAPSHOT_ERROR,
    VOLUME_AVAILABLE,
    VOLUME_CREATING,
    VOLUME_DELETING,
    VOLUME_IN_USE,
    Volume,
)
from cloudctl.services.ec2.ebs.storage import properties as props
from cloudctl.services.ec2.ebs.storage.service import block_storage
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.geography import zone_id
from cloudctl.services.paging import PageRequest, encode_cursor, paginate

# type -> (min GiB, max GiB)
VOLUME_TYPES: dict[str, tuple[int, int]] = {
    "standard": (1, 1024), "gp2": (1, 16384), "gp3": (1, 16384), "io1": (4, 16384),
    "io2": (4, 65536), "st1": (125, 16384), "sc1": (125, 16384),
}
PROVISIONED_IOPS = {"io1": (100, 64000, 50), "io2": (100, 256000, 1000), "gp3": (3000, 16000, 500)}


def check_type(volume_type: str, size: int, iops: int | None,
               throughput: int | None) -> tuple[int | None, int | None]:
    """Validate a type/size/iops/throughput combination; the iops and throughput kept."""
    if volume_type not in VOLUME_TYPES:
        raise AwsError(f"Value ({volume_type}) for parameter volumeType is invalid. Valid "
                       f"values: {', '.join(VOLUME_TYPES)}", code="InvalidParameterValue")
    low, high = VOLUME_TYPES[volume_type]
    if size < low or size > high:
        raise AwsError(f"Volume of {size}GiB is outside the range {low}-{high} GiB for volume "
                       f"type {volume_type}.", code="InvalidParameterValue")
    if throughput is not None and volume_type != "gp3":
        raise AwsError(f"The parameter throughput is not supported for {volume_type} volumes.",
                       code="InvalidParameterCombination")
    if volume_type not in PROVISIONED_IOPS:
        if iops is not None:
            raise AwsError(f"The parameter iops is not supported for {volume_type} volumes.",
                           code="InvalidParameterCombination")
        return (max(100, min(16000, 3 * size)) if volume_type == "gp2" else None), None
    low_iops, high_iops, ratio = PROVISIONED_IOPS[volume_type]
    if iops is None:
        if volume_type != "gp3":
            raise MissingParameter(f"The parameter iops must be specified for {volume_type} "
                                   "volumes.")
        iops = low_iops
    if iops < low_iops or iops > high_iops:
        raise AwsError(f"Value ({iops}) for parameter iops is invalid. Expected between "
                       f"{low_iops} and {high_iops}.", code="InvalidParameterValue")
    if volume_type != "gp3" and iops > size * ratio:
        raise AwsError(f"Iops to volume size ratio of {iops / size:g} is too high; maximum is "
                       f"{ratio}.", code="InvalidParameterValue")
    if volume_type == "gp3":
        throughput = 125 if throughput is None else throughput
        if throughput < 125 or throughput > 1000:
            raise AwsError(f"Value ({throughput}) for parameter throughput is invalid.",
                           code="InvalidParameterValue")
    return iops, throughput


MULTI_ATTACH_TYPES = ("io1", "io2")


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def check_multi_attach_type(volume_type: str) -> None:
    if volume_type not in MULTI_ATTACH_TYPES:
        raise AwsError(f"The volume type {volume_type} does not support Multi-Attach. "
                       "Multi-Attach is supported with io1 and io2 volumes only.",
                       code="InvalidParameterCombination")


class _Status(dict[str, Any]):
    """A VolumeStatusItem (typed loosely for the filter extractors)."""


def _tstamp(value: Any) -> list[str]:
    return [value.strftime("%Y-%m-%dT%H:%M:%S.000Z")] if value is not None else []


class VolumesProvider(Provider):
    service = "ec2"

    def __init__(self, cloud: Any) -> None:
        super().__init__(cloud)
        self.storage = block_storage(cloud)

    async def start(self) -> None:
        ebs_tags.register_kinds()
        await self.storage.start()

    async def stop(self) -> None:
        await self.storage.stop()

    def _zone(self, ctx: RequestContext, params: dict[str, Any]) -> str:
        zones = self.cloud.region_zones.get(ctx.region, [])
        zone = params.get("AvailabilityZone")
        wanted_id = params.get("AvailabilityZoneId")
        if not zone and wanted_id:
            by_id = {zone_id(ctx.region, i): z for i, z in enumerate(zones)}
            zone = by_id.get(str(wanted_id))
            if zone is None:
                raise AwsError(f"The zone ID '{wanted_id}' does not exist.",
                               code="InvalidZone.NotFound")
        if not zone:
            raise MissingParameter("The request must contain the parameter AvailabilityZone")
        if zone not in zones:
            raise AwsError(f"The zone '{zone}' does not exist.", code="InvalidZone.NotFound")
        return str(zone)

    @operation("CreateVolume")
    async def create_volume(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        zone = self._zone(ctx, params)
        ebs_tags.check_specs(params.get("TagSpecifications"), "volume")
        multi = _true(params.get("MultiAttachEnabled"))
        if multi:
            check_multi_attach_type(str(params.get("VolumeType") or "gp2"))
        token = params.get("ClientToken")
        async with self.cloud.sessions() as session, session.begin():
            if token:
                existing = (await session.execute(select(Volume).where(
                    Volume.account_id == account, Volume.client_token == token))).scalar()
                if existing is not None:
                    return await self._idempotent(session, existing, params, zone)
            size = params.get("Size")
            snapshot_id = params.get("SnapshotId") or None
            encrypted = bool(params.get("Encrypted"))
            if snapshot_id:
                snap = await visible_snapshot(session, account, ctx.region, snapshot_id)
                if snap.state in (SNAPSHOT_ERROR, SNAPSHOT_DELETING):
                    raise AwsError(f"Snapshot {snapshot_id} is in state {snap.state}.",
                                   code="IncorrectState")
                if size is None:
                    size = snap.volume_size
                elif int(size) < snap.volume_size:
                    raise AwsError(f"The volume size is invalid for the given snapshot: "
                                   f"{size} GiB is smaller than {snap.volume_size} GiB.",
                                   code="InvalidParameterValue")
                encrypted = encrypted or snap.encrypted
            if size is None:
                raise MissingParameter("The request must contain the parameter size or "
                                       "snapshotId")
            size = int(size)
            limit = int(self.cloud.properties.get(props.MAX_VOLUME_SIZE))
            if size > limit:
                raise AwsError(f"Volume of {size}GiB is too large; maximum is {limit} GiB "
                               "(storage.max_volume_size_gb).", code="InvalidParameterValue")
            volume_type = str(params.get("VolumeType") or "gp2")
            iops, throughput = check_type(volume_type, size, params.get("Iops"),
                                          params.get("Throughput"))
            vol = Volume(volume_id=ids.resource_id("vol"), account_id=account,
                         region=ctx.region, zone=zone,
                         backend=self.storage.backends.kind_for(zone), size_gib=size,
                         snapshot_id=snapshot_id, volume_type=volume_type, iops=iops,
                         throughput=throughput, encrypted=encrypted,
                         kms_key_id=params.get("KmsKeyId") if encrypted else None,
                         state=VOLUME_CREATING, client_token=token, created_at=utcnow(),
                         multi_attach=multi)
            session.add(vol)
            try:
                await session.flush()
            except sa_exc.IntegrityError:
                raise AwsError("A request with this client token is in progress; retry.",
                               code="IdempotentParameterMismatch") from None
            await ebs_tags.apply_specs(self.cloud, session, account, ctx.region, "volume",
                                       vol.volume_id, params.get("TagSpecifications"))
            tags = await ebs_tags.tags_for(session, account, ctx.region, [vol.volume_id])
        self.storage.wake(vol.volume_id)
        return volume_shape(vol, tags.get(vol.volume_id, []))

    async def _idempotent(self, session: Any, vol: Volume, params: dict[str, Any],
                          zone: str) -> Result:
        size = params.get("Size")
        if (zone != vol.zone or (size is not None and int(size) != vol.size_gib)
                or (params.get("SnapshotId") or None) != vol.snapshot_id):
            raise AwsError("The client token was already used with different parameters.",
                           code="IdempotentParameterMismatch")
        tags = await ebs_tags.tags_for(session, vol.account_id, vol.region, [vol.volume_id])
        return volume_shape(vol, tags.get(vol.volume_id, []))

    @operation("DeleteVolume")
    async def delete_volume(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        volume_id = check_volume_id(params.get("VolumeId"))
        async with self.cloud.sessions() as session, session.begin():
            vol = await own_volume(session, account, ctx.region, volume_id, for_update=True)
            held = (await ebs.multi_attachments(session, [volume_id])).get(volume_id, [])
            if vol.instance_id or held or vol.state == VOLUME_IN_USE:
                users = vol.instance_id or ", ".join(a.instance_id for a in held)
                raise AwsError(f"Volume {volume_id} is currently attached to {users}",
                               code="VolumeInUse")
            vol.state = VOLUME_DELETING
        self.storage.wake(volume_id)
        return {}

    async def _volumes(self, ctx: RequestContext, volume_ids: list[str],
                       page: PageRequest | None = None, *, details: bool = True,
                       narrow: Callable[[list[Volume], dict[str, list[dict[str, str]]]],
                                        list[Volume]] | None = None,
                       ) -> tuple[list[Volume], dict[str, list[dict[str, str]]],
                                  dict[str, list[dict[str, Any]]]]:
        """The caller's volumes (those of ``volume_ids``, or all), their tags and
        multi-attachments (``details``; a page's or the ids' tags joined to them).
        ``page``: only that page's volumes (and one more, telling whether there is a
        next), the cursor and limit in the query.
        ``narrow(volumes, tags)``: the volumes to return among those found, given their
        tags (read with them); the multi-attachments are read for those returned only."""
        account = ctx.require_account()
        for volume_id in volume_ids:
            check_volume_id(volume_id)
        tags: dict[str, list[dict[str, str]]] = {}
        multi: dict[str, list[dict[str, Any]]] = {}
        async with self.cloud.sessions() as session:
            limited = page is not None and page.limit is not None
            # a page's or some ids' tags joined (one round trip); the whole list's read
            # apart (joined, every volume's columns came once per tag: on PostgreSQL
            # 35 ms p50 against 16.6 for two statements, bench/results/load.md)
            joined = details and (limited or bool(volume_ids))
            query = _volumes_query(bool(volume_ids), page is not None and page.cursor is not None,
                                   limited, joined)
            rows = await session.execute(query, {
                "account": account, "region": ctx.region, "ids": volume_ids,
                "cursor": page.cursor if page is not None else None,
                "limit": page.limit + 1 if page is not None and page.limit is not None else 0})
            if joined:
                vols, tags = ebs_tags.split_tags(rows, lambda v: v.volume_id)
            else:
                vols = list(rows.scalars())
                if details:
                    tags = await ebs_tags.tags_for(session, account, ctx.region,
                                                   [v.volume_id for v in vols])
            found = {v.volume_id for v in vols}
            for volume_id in volume_ids:
                if volume_id not in found:
                    raise volume_not_found(volume_id)
            if narrow is not None:
                vols = narrow(vols, tags)
            if details:
                rows = await ebs.multi_attachments(
                    session, [v.volume_id for v in vols if v.multi_attach])
                multi = {vid: [ebs.attachment_shape(a) for a in atts]
                         for vid, atts in rows.items()}
        return vols, tags, multi

    @operation("DescribeVolumes")
    async def describe_volumes(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        volume_ids = list(params.get("VolumeIds") or [])
        check_ids_with_max_results(volume_ids, params, "volumeIds")
        filters = params.get("Filters")
        tags: dict[str, list[dict[str, str]]] = {}
        multi: dict[str, list[dict[str, Any]]] = {}

        def atts(v: Volume) -> list[dict[str, Any]]:
            if v.multi_attach:
                return multi.get(v.volume_id, [])
            return own_attachment(v)

        def filtered(vols: list[Volume]) -> list[Volume]:
            return apply_filters(vols, filters, {
                "volume-id": lambda v: [v.volume_id],
                "status": lambda v: [v.state],
                "size": lambda v: [str(v.size_gib)],
                "availability-zone": lambda v: [v.zone],
                "create-time": lambda v: _tstamp(v.created_at),
                "snapshot-id": lambda v: [v.snapshot_id or ""],
                "volume-type": lambda v: [v.volume_type],
                "encrypted": lambda v: [str(v.encrypted).lower()],
                "multi-attach-enabled": lambda v: [str(v.multi_attach).lower()],
                "fast-restored": lambda v: ["false"],
                "attachment.instance-id": lambda v: [a["InstanceId"] for a in atts(v)],
                "attachment.status": lambda v: [a["State"] for a in atts(v)],
                "attachment.device": lambda v: [a["Device"] for a in atts(v)],
                "attachment.attach-time":
                    lambda v: [t for a in atts(v) for t in _tstamp(a["AttachTime"])],
                "attachment.delete-on-termination":
                    lambda v: [str(a["DeleteOnTermination"]).lower() for a in atts(v)],
                **ebs_tags.extractors(lambda v: tags.get(v.volume_id, [])),
            })

        token: str | None = None

        def page_of(vols: list[Volume], found: dict[str, list[dict[str, str]]],
                    ) -> list[Volume]:
            nonlocal token
            tags.update(found)  # the tag filters' (``filtered``'s) tags
            page, token = paginate("DescribeVolumes", params, filtered(vols),
                                   lambda v: v.volume_id)
            return page

        if not volume_ids and not filters and \
                (params.get("MaxResults") is not None or params.get("NextToken")):
            # every volume, a page of them: keyset and limit in SQL (page N of thousands
            # costs what page 1 of a few does), the same tokens as ``paginate``'s
            request = PageRequest.of("DescribeVolumes", params)
            if request.cursor is not None and not isinstance(request.cursor, str):
                raise AwsError(request.bounds.token_message.format(token=request.token),
                               code=request.bounds.token_code)

            def sql_page(vols: list[Volume], _: dict[str, list[dict[str, str]]],
                         ) -> list[Volume]:
                nonlocal token
                if request.limit is not None and len(vols) > request.limit:
                    vols = vols[:request.limit]
                    token = encode_cursor(vols[-1].volume_id, request.scope)
                return vols

            page, tags, multi = await self._volumes(ctx, [], request, narrow=sql_page)
        elif _needs_attachments(filters):
            # an attachment filter: every volume's attachments first, then the page
            vols, tags, multi = await self._volumes(ctx, volume_ids)
            page = page_of(vols, tags)
        else:
            # the page first (tags, read with the volumes, filter it), then its volumes'
            # multi-attachments only
            page, tags, multi = await self._volumes(ctx, volume_ids, narrow=page_of)
        result: Result = {"Volumes": [volume_shape(v, tags.get(v.volume_id, []),
                                                   multi.get(v.volume_id)) for v in page]}
        if token:
            result["NextToken"] = token
        return result

    @operation("ModifyVolume")
    async def modify_volume(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        volume_id = check_volume_id(params.get("VolumeId"))
        multi_param = params.get("MultiAttachEnabled")
        async with self.cloud.sessions() as session, session.begin():
            vol = await own_volume(session, account, ctx.region, volume_id, for_update=True)
            if vol.state not in (VOLUME_AVAILABLE, VOLUME_IN_USE):
                raise AwsError(f"Volume {volume_id} is in state {vol.state}.",
                               code="IncorrectState")
            if vol.mod_state == MOD_MODIFYING:
                raise AwsError(f"Volume {volume_id} is already being modified.",
                               code="IncorrectModificationState")
            size = int(params.get("Size") or vol.size_gib)
            if size < vol.size_gib:
                raise AwsError(f"New size {size} GiB cannot be smaller than the existing size "
                               f"{vol.size_gib} GiB.", code="InvalidParameterValue")
            limit = int(self.cloud.properties.get(props.MAX_VOLUME_SIZE))
            if size > limit:
                raise AwsError(f"Volume of {size}GiB is too large; maximum is {limit} GiB.",
                               code="InvalidParameterValue")
            volume_type = str(params.get("VolumeType") or vol.volume_type)
            type_changed = volume_type != vol.volume_type
            iops_param = params.get("Iops")
            if iops_param is None and not type_changed and volume_type in PROVISIONED_IOPS:
                iops_param = vol.iops
            throughput = params.get("Throughput")
            if throughput is None and not type_changed and volume_type == "gp3":
                throughput = vol.throughput
            iops, throughput = check_type(volume_type, size, iops_param, throughput)
            multi = vol.multi_attach if multi_param is None else _true(multi_param)
            if multi != vol.multi_attach:
                await self._check_multi_change(session, vol, volume_type)
            elif multi:
                check_multi_attach_type(volume_type)
            original_multi = vol.multi_attach
            vol.multi_attach = multi
            if size == vol.size_gib and not type_changed and iops == vol.iops and (
                    throughput == vol.throughput) and multi == original_multi:
                raise AwsError("New modification is the same as the existing volume "
                               "configuration.", code="InvalidParameterValue")
            now = utcnow()
            vol.mod_original_size, vol.mod_target_size = vol.size_gib, size
            vol.mod_original_type, vol.mod_target_type = vol.volume_type, volume_type
            vol.mod_original_iops, vol.mod_target_iops = vol.iops, iops
            vol.mod_start, vol.mod_end, vol.mod_message = now, None, None
            vol.volume_type, vol.iops, vol.throughput = volume_type, iops, throughput
            if size == vol.size_gib:
                vol.mod_state, vol.mod_end = MOD_COMPLETED, now
            else:
                vol.mod_state = MOD_MODIFYING
            shape = {**modification_shape(vol), "OriginalMultiAttachEnabled": original_multi}
        if vol.mod_state == MOD_MODIFYING:
            self.storage.wake(volume_id)
        return {"VolumeModification": shape}

    @staticmethod
    async def _check_multi_change(session: Any, vol: Volume, volume_type: str) -> None:
        """Multi-Attach is turned on (io2 only) or off only on a detached volume."""
        if volume_type != "io2":
            raise AwsError(f"The volume type {volume_type} does not support modifying "
                           "Multi-Attach. Multi-Attach can be modified for io2 volumes only.",
                           code="InvalidParameterCombination")
        held = (await ebs.multi_attachments(session, [vol.volume_id])).get(vol.volume_id)
        if vol.instance_id or held or vol.state != VOLUME_AVAILABLE:
            raise AwsError(f"Volume {vol.volume_id} must be detached from all instances to "
                           "modify Multi-Attach.", code="IncorrectState")

    @operation("DescribeVolumesModifications")
    async def describe_volumes_modifications(self, ctx: RequestContext,
                                             params: dict[str, Any]) -> Result:
        volume_ids = list(params.get("VolumeIds") or [])
        vols, _, _ = await self._volumes(ctx, volume_ids, details=False)
        for vol in vols:
            if vol.mod_state is None and volume_ids:
                raise AwsError(f"Modification for volume '{vol.volume_id}' does not exist.",
                               code="InvalidVolumeModification.NotFound")
        vols = [v for v in vols if v.mod_state is not None]
        vols = apply_filters(vols, params.get("Filters"), {
            "volume-id": lambda v: [v.volume_id],
            "modification-state": lambda v: [v.mod_state or ""],
            "target-size": lambda v: [str(v.mod_target_size)],
            "target-iops": lambda v: [str(v.mod_target_iops)],
            "target-volume-type": lambda v: [v.mod_target_type or ""],
            "original-size": lambda v: [str(v.mod_original_size)],
            "original-iops": lambda v: [str(v.mod_original_iops)],
            "original-volume-type": lambda v: [v.mod_original_type or ""],
            "start-time": lambda v: _tstamp(v.mod_start),
            "target-multi-attach-enabled": lambda v: [str(v.multi_attach).lower()],
            "original-multi-attach-enabled": lambda v: [str(v.multi_attach).lower()],
        })
        page, token = paginate("DescribeVolumesModifications", params, vols,
                               lambda v: v.volume_id)
        result: Result = {"VolumesModifications": [modification_shape(v) for v in page]}
        if token:
            result["NextToken"] = token
        return result

    @operation("DescribeVolumeStatus")
    async def describe_volume_status(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        volume_ids = list(params.get("VolumeIds") or [])
        check_ids_with_max_results(volume_ids, params, "volumeIds")
        vols, _, _ = await self._volumes(ctx, volume_ids, details=False)
        items = []
        for vol in vols:
            if vol.state in (VOLUME_AVAILABLE, VOLUME_IN_USE):
                status, io = "ok", "passed"
            elif vol.state == "error":
                status, io = "impaired", "failed"
            else:
                status, io = "insufficient-data", "insufficient-data"
            items.append(_Status({
                "VolumeId": vol.volume_id, "AvailabilityZone": vol.zone,
                "VolumeStatus": {"Status": status, "Details": [
                    {"Name": "io-enabled", "Status": io},
                    {"Name": "io-performance", "Status": "not-applicable"}]},
                "Actions": [], "Events": [],
            }))
        items = apply_filters(items, params.get("Filters"), {
            "volume-id": lambda i: [i["VolumeId"]],
            "availability-zone": lambda i: [i["AvailabilityZone"]],
            "volume-status.status": lambda i: [i["VolumeStatus"]["Status"]],
            "volume-status.details-name": lambda i: [d["Name"] for d in i["VolumeStatus"]["Details"]],
            "volume-status.details-status":
                lambda i: [d["Status"] for d in i["VolumeStatus"]["Details"]],
            "event.event-type": lambda i: [], "event.event-id": lambda i: [],
            "event.description": lambda i: [], "event.not-after": lambda i: [],
            "event.not-before": lambda i: [], "action.code": lambda i: [],
            "action.event-id": lambda i: [], "action.description": lambda i: [],
        })
        page, token = paginate("DescribeVolumeStatus", params, items,
                               lambda i: str(i["VolumeId"]))
        result: Result = {"VolumeStatuses": page}
        if token:
            result["NextToken"] = token
        return result


@functools.cache
def _volumes_query(by_ids: bool, after: bool, limited: bool, tags: bool) -> Select[Any]:
    """DescribeVolumes' statement (built once a shape: a page's, with its subquery,
    costs more to build than to run), its values bound at execution: ``account``,
    ``region``, ``ids`` (``by_ids``), ``cursor`` (``after``: ids after it), ``limit``
    (``limited``: that many volumes at most). ``tags``: the volumes' tags joined, in
    one statement (one round trip fewer), a page limited before its tags are joined."""
    query = select(Volume).where(Volume.account_id == bindparam("account"),
                                 Volume.region == bindparam("region"))
    if by_ids:
        query = query.where(Volume.volume_id.in_(bindparam("ids", expanding=True)))
    if after:
        query = query.where(Volume.volume_id > bindparam("cursor"))
    query = query.order_by(Volume.volume_id)
    if limited:
        query = query.limit(bindparam("limit"))
    if not tags:
        return query
    id_column: Any = Volume.volume_id
    if limited:
        on_page = aliased(Volume, query.subquery())
        id_column = on_page.volume_id
        query = select(on_page).order_by(id_column)
    return ebs_tags.with_tags(query, id_column, bindparam("account"), bindparam("region"))


def _needs_attachments(filters: Any) -> bool:
    """Whether DescribeVolumes' filters read attachments (then every volume's
    multi-attachments are read before the page; otherwise only the page's)."""
    return any(str(f.get("Name") or "").startswith("attachment.")
               for f in filters or [])
