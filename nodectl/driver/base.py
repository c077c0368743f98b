"""The node agent's virt driver interface: types and the contract of each call.

Owns the vocabulary between the agent and a hypervisor driver (``InstanceSpec``,
``InstanceState``, ``InstanceStats``, ``LifecycleEvent``) and the abstract
``ComputeDriver``. Drivers are synchronous and thread-safe; async callers go
through ``asyncio.to_thread``. A driver owns only domains it tagged (metadata in
``nodectl.domain.METADATA_NS``) and never touches any other domain.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nodectl.domain import Disk, Domain, Nic
from nodectl.stats import NodeStats

__all__ = [
    "ComputeDriver",
    "DriverError",
    "ImageRef",
    "InstanceNotFound",
    "InstanceSpec",
    "InstanceState",
    "InstanceStats",
    "LifecycleEvent",
    "Subscription",
]

DEFAULT_CMDLINE = "console=ttyS0 root=/dev/vda rootfstype=ext4 panic=-1"


class DriverError(RuntimeError):
    """A driver call failed; the message says what and why."""


class InstanceNotFound(DriverError):
    """No domain of ours has that name."""


class InstanceState(enum.Enum):
    """Hypervisor-level state (not the EC2 state: the controller maps it)."""

    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"  # shutting down
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    NOSTATE = "nostate"


@dataclass(frozen=True)
class ImageRef:
    """An image by id, and the local file to cache it from on first use."""

    image_id: str
    source: Path


@dataclass(frozen=True)
class InstanceSpec:
    """Everything ``spawn`` needs. The domain name is the instance id."""

    instance_id: str
    image: ImageRef
    kernel: ImageRef
    ramdisk: ImageRef | None = None
    cmdline: str = DEFAULT_CMDLINE
    memory_mib: int = 128
    vcpus: int = 1
    root_size_mib: int | None = None
    ephemeral_mib: int = 0
    nics: tuple[Nic, ...] = ()
    uuid: str | None = None
    root_disk: Disk | None = None  # boot from this disk (an EBS root volume), not the image


@dataclass(frozen=True)
class InstanceStats:
    """Counters since the domain started."""

    state: InstanceState
    cpu_time_ns: int
    memory_kib: int
    vcpus: int
    block: dict[str, tuple[int, int]] = field(default_factory=dict)  # dev -> (rd, wr) bytes
    net: dict[str, tuple[int, int]] = field(default_factory=dict)  # mac -> (rx, tx) bytes


@dataclass(frozen=True)
class LifecycleEvent:
    """A domain of ours changed state (``detail`` is libvirt's event name)."""

    instance_id: str
    state: InstanceState
    detail: str


class Subscription(abc.ABC):
    """A handle for a lifecycle subscription."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop delivering events; idempotent."""


class ComputeDriver(abc.ABC):
    """What a hypervisor driver must do, and what is true after each call."""

    @abc.abstractmethod
    def spawn(self, spec: InstanceSpec) -> Domain:
        """Stage disks and start the guest.

        After return the domain named ``spec.instance_id`` exists, is tagged as
        ours and is RUNNING. On any failure everything partial (domain
        definition, overlay, ephemeral disk, console log) is removed before the
        error propagates. Spawning an instance that is already running is a
        no-op that returns its definition.
        """

    @abc.abstractmethod
    def destroy(self, instance_id: str) -> None:
        """Power off hard and undefine; remove the instance's files.

        Idempotent: destroying an unknown instance succeeds. After return no
        domain and no file of the instance remain.
        """

    @abc.abstractmethod
    def list_instances(self) -> list[str]:
        """Instance ids of the domains tagged as ours (running or not)."""

    @abc.abstractmethod
    def instance_state(self, instance_id: str) -> InstanceState:
        """The current state; raises ``InstanceNotFound``."""

    @abc.abstractmethod
    def get_domain(self, instance_id: str) -> Domain:
        """The domain as it runs now (disks include hot-plugged ones)."""

    @abc.abstractmethod
    def reboot(self, instance_id: str, hard: bool = False) -> None:
        """Soft (ACPI) or hard (reset) reboot. The domain stays defined and ours."""

    @abc.abstractmethod
    def shutdown(self, instance_id: str) -> None:
        """Ask the guest to power off (ACPI); returns at once."""

    @abc.abstractmethod
    def power_off(self, instance_id: str) -> None:
        """Power off hard (pull the plug) and keep the definition and every file.

        After return the domain is SHUTOFF and still ours; a no-op when already off.
        """

    @abc.abstractmethod
    def attach_disk(self, instance_id: str, disk: Disk) -> None:
        """Hot-plug ``disk``; after return it is in the live and persistent config."""

    @abc.abstractmethod
    def detach_disk(self, instance_id: str, target: str, timeout: float = 10.0) -> None:
        """Hot-unplug the disk at ``target`` (e.g. "vdb").

        After return it is gone from the live and persistent config; raises
        ``DriverError`` if the guest did not release it within ``timeout``.
        Detaching a target that is not attached is a no-op.
        """

    @abc.abstractmethod
    def attach_nic(self, instance_id: str, nic: Nic) -> None:
        """Hot-plug ``nic``; after return it is in the live and persistent config."""

    @abc.abstractmethod
    def detach_nic(self, instance_id: str, mac: str) -> None:
        """Hot-unplug the NIC with ``mac`` from the live and persistent config; a NIC
        that is not there is a no-op."""

    @abc.abstractmethod
    def console_output(self, instance_id: str) -> str:
        """Everything the guest wrote to its serial console so far."""

    @abc.abstractmethod
    def stats(self, instance_id: str) -> InstanceStats:
        """CPU, memory, block and network counters."""

    @abc.abstractmethod
    def all_stats(self) -> NodeStats:
        """State and cumulative counters (cpu, vcpus, interfaces, block devices) of every
        domain of ours in one call, stamped with the time they were read. Domains that
        are not running appear with their state and zero counters."""

    @abc.abstractmethod
    def subscribe(self, callback: Callable[[LifecycleEvent], None]) -> Subscription:
        """Call ``callback`` (from the driver's event thread) on each lifecycle change
        of one of our domains. Events only wake reconcilers early; they are not a
        substitute for a resync through ``list_instances``/``instance_state``.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the hypervisor connection; domains keep running."""
