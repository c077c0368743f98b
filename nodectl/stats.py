"""Guest statistics in bulk: the counters one node reports for all its guests at once.

Owns the vocabulary of ``ComputeDriver.all_stats`` and ``NodeClient.guest_stats``
(the same types on both sides of the agent's HTTP API) and their JSON form. Every
counter is cumulative since the domain started (libvirt's ``getAllDomainStats``
groups state, cpu-total, vcpu, interface and block); the controller turns them into
rates. ``domain_id`` changes each time a domain starts, so a consumer can tell a
restarted guest (counters from zero) from one that kept running. Pure data: no
libvirt, no I/O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DiskCounters", "GuestStats", "NicCounters", "NodeStats", "node_stats_from_json",
           "node_stats_to_json"]


@dataclass(frozen=True)
class DiskCounters:
    """One block device of a guest (``device`` is the guest target, e.g. ``vdb``).

    ``busy_ns`` is the time requests spent in flight (libvirt ``rd.times`` +
    ``wr.times`` + ``fl.times``), the base of queue length and idle time."""

    device: str
    read_bytes: int = 0
    write_bytes: int = 0
    read_ops: int = 0
    write_ops: int = 0
    busy_ns: int = 0


@dataclass(frozen=True)
class NicCounters:
    """One network interface of a guest (``device``: its host tap), counted from the
    guest's point of view as libvirt reports it: ``rx`` is what the guest received."""

    device: str
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0


@dataclass(frozen=True)
class GuestStats:
    """One guest: its state (``running``, ``paused``, ``shutoff``, ``crashed``...) and
    counters since it started. A guest that is not running has zero counters.

    ``steal_ns`` is the time its vcpus were ready to run but waited for a host CPU
    (libvirt ``vcpu.N.delay``, the guest's steal time), summed over the vcpus."""

    instance_id: str
    state: str
    domain_id: int
    cpu_time_ns: int
    vcpus: int
    disks: tuple[DiskCounters, ...] = ()
    nics: tuple[NicCounters, ...] = ()
    steal_ns: int = 0


@dataclass(frozen=True)
class NodeStats:
    """Every guest of one node, sampled at ``at`` (seconds since the epoch, node clock)."""

    at: float
    guests: tuple[GuestStats, ...] = ()


def node_stats_to_json(stats: NodeStats) -> dict[str, Any]:
    return asdict(stats)


def _disk(d: dict[str, Any]) -> DiskCounters:
    return DiskCounters(device=str(d["device"]), read_bytes=int(d["read_bytes"]),
                        write_bytes=int(d["write_bytes"]), read_ops=int(d["read_ops"]),
                        write_ops=int(d["write_ops"]), busy_ns=int(d["busy_ns"]))


def _nic(n: dict[str, Any]) -> NicCounters:
    return NicCounters(device=str(n["device"]), rx_bytes=int(n["rx_bytes"]),
                       tx_bytes=int(n["tx_bytes"]), rx_packets=int(n["rx_packets"]),
                       tx_packets=int(n["tx_packets"]))


def _guest_from_json(data: dict[str, Any]) -> GuestStats:
    return GuestStats(
        instance_id=str(data["instance_id"]), state=str(data["state"]),
        domain_id=int(data["domain_id"]), cpu_time_ns=int(data["cpu_time_ns"]),
        vcpus=int(data["vcpus"]), disks=tuple(_disk(d) for d in data.get("disks", ())),
        nics=tuple(_nic(n) for n in data.get("nics", ())),
        steal_ns=int(data.get("steal_ns", 0)),
    )


def node_stats_from_json(data: dict[str, Any]) -> NodeStats:
    return NodeStats(at=float(data["at"]),
                     guests=tuple(_guest_from_json(g) for g in data.get("guests", ())))
