"""The metrics collector: every node's guest counters into AWS/EC2 and AWS/EBS metrics.

A controller on the reconcile base (leader only) whose keys are node names. Every
``cloud.monitoring.detailed_period_sec`` (60 s) one sync asks a node for its guests'
counters in bulk (``NodeClient.guest_stats``) and, for each instance the database
places on that node in state ``running``:

- records the status checks (system: the node answered; instance: its guest runs) for
  DescribeInstanceStatus and publishes ``StatusCheckFailed*`` (every minute, as AWS);
- once the instance's period has passed (detailed monitoring: 60 s; basic: 300 s,
  ``cloud.monitoring.basic_period_sec``) publishes the AWS/EC2 metrics of the interval
  to every dimension set AWS publishes (``guest_metrics.ec2_dimension_sets``);
- publishes AWS/EBS metrics of its attached volumes every sample; a Multi-Attach
  volume gets one datapoint a sample with what all its attached instances on the node
  did (AWS aggregates them; instances on other nodes add datapoints of their own, so
  its Sum over a period is the whole volume's wherever they run).

Datapoints carry the start of the interval they cover, in the instance owner's
account and region, through ``cloudctl.services.cloudwatch.api.publish``; the
aggregate dimension sets get one datum per sync with every instance's value.

Restart safety: the baselines (last sample per instance) are in memory only. After a
collector restart the first sample is a new baseline; a guest or node restart (new
``domain_id``, counters backwards) and a gap longer than two periods start a new
baseline too, so no interval ever yields a negative value or a spike.

Must not: change instance rows; act on guests.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from cloudctl.core.reconcile import Leadership, Reconciler, always_leader
from cloudctl.services.ec2.compute import guest_metrics as gm
from cloudctl.services.ec2.compute import monitoring
from cloudctl.services.ec2.compute import nodes as nodes_mod
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.compute.instance_volumes import guest_device
from cloudctl.services.ec2.compute.monitoring_properties import BASIC_PERIOD, DETAILED_PERIOD
from cloudctl.services.ec2.compute.node_runtime import NODES
from cloudctl.services.ec2.ebs.models import Volume, VolumeAttachment
from cloudctl.services.ec2.shared.tags import Tag
from nodectl.client import NodeError
from nodectl.stats import GuestStats, NodeStats

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud
    from cloudctl.services.cloudwatch.api import Datum

log = logging.getLogger("cloudctl.compute.metrics")

ASG_TAG = "aws:autoscaling:groupName"
Publish = Callable[[str, str, Sequence["Datum"]], Awaitable[None]]


@dataclass(frozen=True)
class _Sample:
    at: float
    stats: GuestStats


@dataclass(frozen=True)
class Target:
    """An instance the database places on the node, with what its metrics need."""

    instance_id: str
    account_id: str
    region: str
    image_id: str
    instance_type: str
    detailed: bool
    asg: str
    volumes: dict[str, str]  # guest device -> volume id
    shared: frozenset[str] = frozenset()  # the Multi-Attach ones among them


class Batch:
    """Datums of one sync, per (account, region); aggregates merged into one datum."""

    def __init__(self) -> None:
        self.single: dict[tuple[str, str], list[Datum]] = defaultdict(list)
        self.merged: dict[tuple[str, str, str, str, gm.Dimensions, float, str],
                          list[float]] = defaultdict(list)

    def add(self, account: str, region: str, namespace: str, name: str,
            dims: gm.Dimensions, at: float, value: float, unit: str) -> None:
        if len(dims) == 1 and dims[0][0] in ("InstanceId", "VolumeId"):
            from cloudctl.services.cloudwatch.api import Datum

            self.single[(account, region)].append(Datum(
                namespace=namespace, name=name, dimensions=dims,
                timestamp=datetime.fromtimestamp(at, UTC), value=value, unit=unit))
        else:
            self.merged[(account, region, namespace, name, dims, at, unit)].append(value)

    def by_account(self) -> dict[tuple[str, str], list[Datum]]:
        from cloudctl.services.cloudwatch.api import Datum

        out = {k: list(v) for k, v in self.single.items()}
        for (account, region, namespace, name, dims, at, unit), values in self.merged.items():
            out.setdefault((account, region), []).append(Datum(
                namespace=namespace, name=name, dimensions=dims,
                timestamp=datetime.fromtimestamp(at, UTC), values=tuple(values),
                counts=tuple(1.0 for _ in values), unit=unit))
        return out

    def __len__(self) -> int:
        return sum(len(v) for v in self.single.values()) + len(self.merged)


class Sampler:
    """One node's baselines (the last sample of each of its guests) and the datums each
    new sample of the node makes. No I/O: the collector feeds it."""

    def __init__(self) -> None:
        self.baselines: dict[str, _Sample] = {}
        self.volume_baselines: dict[str, _Sample] = {}

    def collect(self, targets: Sequence[Target], stats: NodeStats | None, now: float,
                basic: float, detailed: float) -> Batch:
        """The datums of one sample of one node (``stats`` None: it did not answer);
        ``basic``/``detailed``: seconds between EC2 datapoints of an instance."""
        batch = Batch()
        at = stats.at if stats is not None else now
        guests = {g.instance_id: g for g in stats.guests} if stats is not None else {}
        shared: dict[tuple[str, str, str], list[tuple[float, float, gm.DiskDelta]]] = \
            defaultdict(list)
        for t in targets:
            guest = guests.get(t.instance_id)
            system_ok = stats is not None
            instance_ok = not system_ok or (guest is not None and guest.state == "running")
            dims = gm.ec2_dimension_sets(t.instance_id, t.image_id, t.instance_type,
                                         {ASG_TAG: t.asg} if t.asg else {})
            for name, value in gm.status_values(system_ok, instance_ok).items():
                for dim in dims:
                    batch.add(t.account_id, t.region, "AWS/EC2", name, dim, at, value,
                              gm.EC2_UNITS[name])
            if guest is None or guest.state != "running":
                self.baselines.pop(t.instance_id, None)
                self.volume_baselines.pop(t.instance_id, None)
                continue
            period = detailed if t.detailed else basic
            interval = self._advance(self.baselines, t.instance_id, guest, at, period, detailed)
            if interval is not None:
                start, d = interval
                for name, value in gm.instance_values(d, t.volumes).items():
                    for dim in dims:
                        batch.add(t.account_id, t.region, "AWS/EC2", name, dim, start, value,
                                  gm.EC2_UNITS[name])
            if t.volumes:
                vinterval = self._advance(self.volume_baselines, t.instance_id, guest, at,
                                          detailed, detailed)
                if vinterval is not None:
                    start, d = vinterval
                    for disk in d.disks:
                        vid = t.volumes.get(disk.device)
                        if vid is None:
                            continue
                        if vid in t.shared:
                            shared[(t.account_id, t.region, vid)].append((start, d.seconds,
                                                                          disk))
                            continue
                        for name, value in gm.volume_values(disk, d.seconds).items():
                            batch.add(t.account_id, t.region, "AWS/EBS", name,
                                      (("VolumeId", vid),), start, value, gm.EBS_UNITS[name])
        for (account, region, vid), parts in shared.items():
            disk = gm.combined(vid, (p[2] for p in parts))
            start = min(p[0] for p in parts)
            for name, value in gm.volume_values(disk, max(p[1] for p in parts)).items():
                batch.add(account, region, "AWS/EBS", name, (("VolumeId", vid),), start, value,
                          gm.EBS_UNITS[name])
        live = {t.instance_id for t in targets}
        for table in (self.baselines, self.volume_baselines):
            for gone in [i for i in table if i not in live and i not in guests]:
                del table[gone]
        return batch

    @staticmethod
    def _advance(table: dict[str, _Sample], iid: str, guest: GuestStats, at: float,
                 period: float, sample_every: float) -> tuple[float, gm.GuestDelta] | None:
        """The interval ending now if ``period`` has passed since the baseline (and the
        new baseline), or None (too early, or a new baseline after a restart or gap)."""
        base = table.get(iid)
        if base is None:
            table[iid] = _Sample(at, guest)
            return None
        elapsed = at - base.at
        if elapsed < period - sample_every / 2:
            return None
        table[iid] = _Sample(at, guest)
        if elapsed > 2 * period + sample_every:  # the collector or node was away: no spike
            return None
        d = gm.delta(base.stats, base.at, guest, at)
        return None if d is None else (base.at, d)


async def _cloudwatch_publish(cloud: Cloud, account: str, region: str,
                              data: Sequence[Datum]) -> None:
    from cloudctl.services.cloudwatch.api import publish

    await publish(cloud, account, region, data)


class MetricsCollector(Reconciler):
    """Keys: node names; ``samplers`` (one per node) hold the last sample of each guest."""

    name = "metrics-collector"
    workers = 2
    base_backoff = 5.0
    max_backoff = 300.0

    def __init__(self, cloud: Cloud, *, leader: Leadership = always_leader,
                 publish: Publish | None = None) -> None:
        super().__init__(leader=leader)
        self.cloud = cloud
        self.publish: Publish = publish or (
            lambda account, region, data: _cloudwatch_publish(cloud, account, region, data))
        self.samplers: dict[str, Sampler] = {}
        self._checks: dict[str, tuple[bool, bool]] = {}

    def interval(self) -> float:
        return float(self.cloud.properties.get(DETAILED_PERIOD))

    def periods(self) -> tuple[float, float]:
        """(basic, detailed) seconds between an instance's EC2 datapoints."""
        return (float(self.cloud.properties.get(BASIC_PERIOD)),
                float(self.cloud.properties.get(DETAILED_PERIOD)))

    async def list_keys(self) -> list[str]:
        async with self.cloud.sessions() as session:
            names = [n.name for n in await nodes_mod.list_nodes(session)]
        async with self.cloud.sessions() as session, session.begin():
            await monitoring.prune_terminated(session)
        for gone in set(self.samplers) - set(names):
            del self.samplers[gone]
        return names

    # -- what the database says ------------------------------------------------------------
    async def targets(self, node: str) -> list[Target]:
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(
                select(Instance.instance_id, Instance.account_id, Instance.region,
                       Instance.image_id, Instance.instance_type)
                .where(Instance.node == node, Instance.state == "running"))).all())
            ids = [r[0] for r in rows]
            if not ids:
                return []
            detailed = await monitoring.detailed_ids(session, ids)
            groups = dict((await session.execute(
                select(Tag.resource_id, Tag.value).where(
                    Tag.key == ASG_TAG, Tag.resource_id.in_(ids)))).tuples().all())
            volumes: dict[str, dict[str, str]] = defaultdict(dict)
            for vid, iid, device, boot in (await session.execute(
                    select(Volume.volume_id, Volume.instance_id, Volume.device, Volume.boot)
                    .where(Volume.instance_id.in_(ids),
                           Volume.attach_state == "attached"))).tuples():
                try:
                    volumes[str(iid)][guest_device(device, boot)] = vid
                except ValueError:
                    continue
            shared: dict[str, set[str]] = defaultdict(set)
            for vid, iid, device in (await session.execute(
                    select(VolumeAttachment.volume_id, VolumeAttachment.instance_id,
                           VolumeAttachment.device)
                    .where(VolumeAttachment.instance_id.in_(ids),
                           VolumeAttachment.attach_state == "attached"))).tuples():
                try:
                    volumes[str(iid)][guest_device(device, False)] = vid
                except ValueError:
                    continue
                shared[str(iid)].add(vid)
        return [Target(iid, account, region, image, itype, iid in detailed,
                        str(groups.get(iid, "")), volumes.get(iid, {}),
                        frozenset(shared.get(iid, ())))
                for iid, account, region, image, itype in rows]

    # -- one node ---------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        async with self.cloud.sessions() as session:
            node = await session.get(nodes_mod.Node, key)
        pool = self.cloud.runtime.get(NODES)
        client = pool.client(node.name, node.address) if node is not None and pool else None
        if client is None:
            return
        targets = await self.targets(key)
        try:
            stats: NodeStats | None = await client.guest_stats()
        except NodeError as exc:
            if not exc.retryable:  # e.g. an agent older than GET /v1/stats: no verdict
                log.warning("metrics: node %s cannot give statistics: %s", key, exc)
                return
            log.warning("metrics: node %s gave no statistics: %s", key, exc)
            stats = None  # unreachable, or libvirt down there: the system check fails
        except Exception as exc:
            log.warning("metrics: node %s gave no statistics: %s", key, exc)
            stats = None
        sampler = self.samplers.setdefault(key, Sampler())
        batch = sampler.collect(targets, stats, time.time(), *self.periods())
        await self.flush(batch)
        await self.record_checks(targets, stats)

    async def flush(self, batch: Batch) -> None:
        for (account, region), data in batch.by_account().items():
            await self.publish(account, region, data)

    async def record_checks(self, targets: Sequence[Target], stats: NodeStats | None) -> None:
        """Write the checks that changed (all of them after a restart of the collector)."""
        guests = {g.instance_id: g for g in stats.guests} if stats is not None else {}
        changed = []
        for t in targets:
            guest = guests.get(t.instance_id)
            system_ok = stats is not None
            instance_ok = not system_ok or (guest is not None and guest.state == "running")
            if self._checks.get(t.instance_id) != (system_ok, instance_ok):
                changed.append(monitoring.CheckResult(t.instance_id, t.account_id, t.region,
                                                      system_ok, instance_ok))
        if not changed:
            return
        async with self.cloud.sessions() as session, session.begin():
            await monitoring.record_checks(session, changed, datetime.now(UTC))
        for c in changed:
            self._checks[c.instance_id] = (c.system_ok, c.instance_ok)


def start(cloud: Cloud) -> MetricsCollector:
    """Run the collector in this (leader) worker."""
    collector = MetricsCollector(cloud, leader=lambda: cloud.runs_controllers)

    async def wake(name: str, value: Any) -> None:
        collector.resync_now()

    cloud.properties.on_change(DETAILED_PERIOD.name, wake)
    cloud.spawn(collector.run(), "metrics-collector")
    return collector
