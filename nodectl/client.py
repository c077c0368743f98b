"""The node agent's API as the cloud controller sees it (the contract, version 1).

The controller drives every hypervisor host through ``NodeClient``: over HTTP/JSON
with mutual TLS to a remote agent, or in-process in the all-in-one mode, with the
same types either way. Every call is idempotent: ``ensure_instance`` twice with the
same spec leaves one running guest; ``delete_instance`` of an unknown id succeeds.
This module holds only types and the protocol; implementations live beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from nodectl.stats import NodeStats

API_VERSION = "v1"

ArtifactKind = Literal["kernel", "ramdisk", "machine"]


@dataclass(frozen=True)
class Artifact:
    """An image artifact the node stages into its cache (once per image id).

    ``url`` is where the node fetches it: ``file://`` (all-in-one), or an
    ``http(s)://`` URL (a presigned S3 GET). For a bundled image ``bundle_manifest_url``
    points at the bundle manifest instead, and the node downloads the parts and
    decrypts them with the key the cloud wrapped for it.
    """

    image_id: str
    kind: ArtifactKind
    url: str = ""
    bundle_manifest_url: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class NicSpec:
    mac: str
    bridge: str
    private_ip: str = ""
    target_dev: str = ""  # the host tap's name; "" = ``tap_name`` of the instance and index


def tap_name(instance_id: str, index: int = 0) -> str:
    """The host-side tap of an instance NIC (the domain's ``<target dev>``, at most 15
    characters): ``vn-`` + 12 hex digits of the id, ``vn1-`` + 11 for a second NIC..."""
    digits = instance_id.split("-", 1)[-1]
    head = "vn-" if index == 0 else f"vn{index}-"
    return (head + digits)[:15]


@dataclass(frozen=True)
class VolumeSpec:
    """A block device to attach: ``attachment`` is what the storage backend hands out
    (``{"type": "file", "path", "format"}`` or ``{"type": "rbd", "pool", "image",
    "monitors", "user", "secret"...}``); ``device`` is the guest name (``vdb``)."""

    volume_id: str
    device: str
    attachment: dict[str, Any]


@dataclass(frozen=True)
class InstanceSpec:
    instance_id: str
    kernel: Artifact
    image: Artifact
    ramdisk: Artifact | None = None
    memory_mib: int = 128
    vcpus: int = 1
    root_size_mib: int | None = None
    ephemeral_mib: int = 0
    nics: tuple[NicSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    cmdline: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstanceSpec:
        return cls(
            instance_id=data["instance_id"],
            kernel=Artifact(**data["kernel"]),
            image=Artifact(**data["image"]),
            ramdisk=Artifact(**data["ramdisk"]) if data.get("ramdisk") else None,
            memory_mib=int(data.get("memory_mib", 128)),
            vcpus=int(data.get("vcpus", 1)),
            root_size_mib=data.get("root_size_mib"),
            ephemeral_mib=int(data.get("ephemeral_mib", 0)),
            nics=tuple(NicSpec(**n) for n in data.get("nics", ())),
            volumes=tuple(VolumeSpec(**v) for v in data.get("volumes", ())),
            cmdline=data.get("cmdline", ""),
        )


InstancePower = Literal["running", "stopped", "shutting-down", "crashed", "missing", "paused"]


@dataclass(frozen=True)
class InstanceStatus:
    """What the node observes of one of its guests."""

    instance_id: str
    power: InstancePower
    detail: str = ""
    volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeInfo:
    name: str
    address: str
    cores: int
    memory_mib: int
    virt_type: str
    netns: str = ""
    version: str = API_VERSION
    extra: dict[str, Any] = field(default_factory=dict)


class NodeError(RuntimeError):
    """A node call failed; ``retryable`` says whether repeating it may help.

    ``code`` names the failure: ``InstanceNotFound``, ``InvalidParameter``,
    ``ImageStagingFailed``, ``VolumeInUse``, ``DriverError``, ``Unavailable`` (the
    agent could not be reached) or ``NodeError``.
    """

    def __init__(self, message: str, *, retryable: bool = True, code: str = "NodeError") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


class NodeClient(Protocol):
    """One hypervisor host, as the controller drives it. All calls are idempotent."""

    async def node_info(self) -> NodeInfo: ...

    async def ensure_instance(self, spec: InstanceSpec) -> InstanceStatus:
        """Stage artifacts and make the guest exist and run (start it if stopped)."""
        ...

    async def stop_instance(self, instance_id: str, force: bool = False) -> InstanceStatus:
        """Power the guest off (ACPI, then destroy after a grace period or if ``force``);
        keep its disks."""
        ...

    async def reboot_instance(self, instance_id: str) -> None: ...

    async def delete_instance(self, instance_id: str) -> None:
        """Destroy the guest and remove every file of it on the node."""
        ...

    async def list_instances(self) -> list[InstanceStatus]: ...

    async def console_output(self, instance_id: str) -> str: ...

    async def attach_volume(self, instance_id: str, volume: VolumeSpec) -> None: ...

    async def detach_volume(self, instance_id: str, volume_id: str) -> None: ...

    async def ensure_nics(self, instance_id: str, nics: tuple[NicSpec, ...]) -> None:
        """Make the guest's NICs exactly ``nics`` (by MAC): hot-plug the missing ones,
        hot-unplug the others, live and in the persistent definition."""
        ...

    async def guest_stats(self) -> NodeStats:
        """State and cumulative cpu, network and block counters of every guest, in bulk
        (``nodectl.stats``)."""
        ...
