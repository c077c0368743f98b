"""From two samples of a guest's cumulative counters to AWS/EC2 and AWS/EBS metric values.

Pure arithmetic, no I/O: the collector (``collector``) feeds it ``nodectl.stats``
samples. A pair of samples gives a delta only when both are of the same running
domain (``domain_id``) and no counter went backwards; anything else (the guest or
its node restarted, a counter wrapped) yields ``None``, and the newer sample becomes
the baseline: a restart never produces a negative value or a spike.

What the values mean, as AWS documents them:
- ``CPUUtilization``: percent of the time the guest's vcpus could run that the guest
  used (Percent): cpu time over (interval x vcpus less the time the vcpus waited for a
  host CPU, their steal time). A guest running flat out reads 100 on an overcommitted
  host too, as it does inside the guest; an idle one reads near 0;
- ``NetworkIn/Out``, ``NetworkPacketsIn/Out``: bytes and packets the guest received and
  sent over the interval on all its interfaces (libvirt counts them as the guest sees
  them: rx is what the guest received);
- ``DiskReadBytes/WriteBytes/ReadOps/WriteOps``: instance store disks only (the root
  overlay and ephemeral disks; EBS volumes report in AWS/EBS);
- ``VolumeReadBytes/WriteBytes/ReadOps/WriteOps`` per EBS volume; ``VolumeIdleTime``:
  seconds of the interval with no request in flight (the interval less the time
  requests spent in flight, at least 0); ``VolumeQueueLength``: requests in flight on
  average (time in flight / interval, Little's law).
- a Multi-Attach volume's values are its attachments' together, as AWS aggregates them
  across the attached instances (``combined``): bytes, operations and time in flight
  add up; its idle time assumes the instances' requests did not overlap (the guests'
  counters cannot tell), so it is a lower bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nodectl.stats import DiskCounters, GuestStats, NicCounters

__all__ = ["EBS_UNITS", "EC2_UNITS", "DiskDelta", "GuestDelta", "Dimensions",
           "combined", "delta", "ec2_dimension_sets", "instance_values", "status_values", "volume_values"]

Dimensions = tuple[tuple[str, str], ...]

EC2_UNITS: dict[str, str] = {
    "CPUUtilization": "Percent",
    "NetworkIn": "Bytes", "NetworkOut": "Bytes",
    "NetworkPacketsIn": "Count", "NetworkPacketsOut": "Count",
    "DiskReadBytes": "Bytes", "DiskWriteBytes": "Bytes",
    "DiskReadOps": "Count", "DiskWriteOps": "Count",
    "StatusCheckFailed": "Count", "StatusCheckFailed_Instance": "Count",
    "StatusCheckFailed_System": "Count",
}
EBS_UNITS: dict[str, str] = {
    "VolumeReadBytes": "Bytes", "VolumeWriteBytes": "Bytes",
    "VolumeReadOps": "Count", "VolumeWriteOps": "Count",
    "VolumeIdleTime": "Seconds", "VolumeQueueLength": "Count",
}


@dataclass(frozen=True)
class DiskDelta:
    device: str
    read_bytes: int
    write_bytes: int
    read_ops: int
    write_ops: int
    busy_s: float


@dataclass(frozen=True)
class GuestDelta:
    """What one guest did between two samples ``seconds`` apart."""

    seconds: float
    cpu_percent: float
    net_in_bytes: int
    net_out_bytes: int
    net_in_packets: int
    net_out_packets: int
    disks: tuple[DiskDelta, ...]


def _nic_deltas(prev: Iterable[NicCounters],
                cur: Iterable[NicCounters]) -> list[tuple[int, int, int, int]] | None:
    before = {n.device: n for n in prev}
    out = []
    for n in cur:
        p = before.get(n.device, NicCounters(n.device))  # hot-plugged: from zero
        d = (n.rx_bytes - p.rx_bytes, n.tx_bytes - p.tx_bytes,
             n.rx_packets - p.rx_packets, n.tx_packets - p.tx_packets)
        if min(d) < 0:
            return None
        out.append(d)
    return out


def _disk_deltas(prev: Iterable[DiskCounters],
                 cur: Iterable[DiskCounters]) -> list[DiskDelta] | None:
    before = {d.device: d for d in prev}
    out = []
    for d in cur:
        p = before.get(d.device, DiskCounters(d.device))
        values = (d.read_bytes - p.read_bytes, d.write_bytes - p.write_bytes,
                  d.read_ops - p.read_ops, d.write_ops - p.write_ops, d.busy_ns - p.busy_ns)
        if min(values) < 0:
            return None
        out.append(DiskDelta(d.device, values[0], values[1], values[2], values[3],
                             values[4] / 1e9))
    return out


def delta(prev: GuestStats, prev_at: float, cur: GuestStats, cur_at: float) -> GuestDelta | None:
    """The guest's work between two samples, or None when they do not make an interval
    (not both running, another start of the domain, a counter went backwards, no time)."""
    seconds = cur_at - prev_at
    if (seconds <= 0 or prev.state != "running" or cur.state != "running"
            or prev.domain_id != cur.domain_id):
        return None
    cpu_ns = cur.cpu_time_ns - prev.cpu_time_ns
    steal_ns = cur.steal_ns - prev.steal_ns
    nics = _nic_deltas(prev.nics, cur.nics)
    disks = _disk_deltas(prev.disks, cur.disks)
    if cpu_ns < 0 or steal_ns < 0 or nics is None or disks is None:
        return None
    could_run = seconds * 1e9 * max(1, cur.vcpus) - steal_ns
    percent = 100.0 * cpu_ns / could_run if could_run > 0 else (100.0 if cpu_ns else 0.0)
    return GuestDelta(
        seconds=seconds, cpu_percent=min(100.0, percent),
        net_in_bytes=sum(n[0] for n in nics), net_out_bytes=sum(n[1] for n in nics),
        net_in_packets=sum(n[2] for n in nics), net_out_packets=sum(n[3] for n in nics),
        disks=tuple(disks))


def instance_values(d: GuestDelta, ebs_devices: Iterable[str]) -> dict[str, float]:
    """AWS/EC2 values of one interval (status checks are separate: they need no delta)."""
    ebs = set(ebs_devices)
    store = [x for x in d.disks if x.device not in ebs]
    return {
        "CPUUtilization": round(d.cpu_percent, 4),
        "NetworkIn": float(d.net_in_bytes), "NetworkOut": float(d.net_out_bytes),
        "NetworkPacketsIn": float(d.net_in_packets),
        "NetworkPacketsOut": float(d.net_out_packets),
        "DiskReadBytes": float(sum(x.read_bytes for x in store)),
        "DiskWriteBytes": float(sum(x.write_bytes for x in store)),
        "DiskReadOps": float(sum(x.read_ops for x in store)),
        "DiskWriteOps": float(sum(x.write_ops for x in store)),
    }


def combined(device: str, parts: Iterable[DiskDelta]) -> DiskDelta:
    """One volume's work over an interval from what each instance attached to it did."""
    items = list(parts)
    return DiskDelta(device, sum(p.read_bytes for p in items),
                     sum(p.write_bytes for p in items), sum(p.read_ops for p in items),
                     sum(p.write_ops for p in items), sum(p.busy_s for p in items))


def volume_values(disk: DiskDelta, seconds: float) -> dict[str, float]:
    """AWS/EBS values of one volume over an interval of ``seconds``."""
    busy = min(seconds, max(0.0, disk.busy_s))
    return {
        "VolumeReadBytes": float(disk.read_bytes), "VolumeWriteBytes": float(disk.write_bytes),
        "VolumeReadOps": float(disk.read_ops), "VolumeWriteOps": float(disk.write_ops),
        "VolumeIdleTime": round(seconds - busy, 6),
        "VolumeQueueLength": round(max(0.0, disk.busy_s) / seconds, 6) if seconds > 0 else 0.0,
    }


def status_values(system_ok: bool, instance_ok: bool) -> dict[str, float]:
    """The three status check metrics (1 = failed)."""
    return {"StatusCheckFailed_System": 0.0 if system_ok else 1.0,
            "StatusCheckFailed_Instance": 0.0 if instance_ok else 1.0,
            "StatusCheckFailed": 0.0 if system_ok and instance_ok else 1.0}


def ec2_dimension_sets(instance_id: str, image_id: str, instance_type: str,
                       tags: Mapping[str, str]) -> list[Dimensions]:
    """Every dimension set AWS publishes an instance's EC2 metrics to: the instance,
    its image, its type, its Auto Scaling group (when tagged), and the aggregate of all
    instances (no dimension)."""
    sets: list[Dimensions] = [(("InstanceId", instance_id),), (("ImageId", image_id),),
                              (("InstanceType", instance_type),)]
    group = tags.get("aws:autoscaling:groupName")
    if group:
        sets.append((("AutoScalingGroupName", group),))
    sets.append(())
    return sets
