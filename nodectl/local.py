"""``LocalNodeClient``: the node agent's ``NodeClient`` in-process, over a ``ComputeDriver``.

Owns the translation from the controller's contract (``nodectl.client``) to the
driver's: staging artifacts into the image cache (``nodectl.staging``), building
the driver's ``InstanceSpec``, volumes as ``nodectl.domain.Disk`` (file or RBD,
tagged with the volume id as the disk serial), and driver states as
``InstancePower``. Every driver call runs in a thread (``asyncio.to_thread``);
calls on one instance are serialised, calls on different instances run
concurrently. The all-in-one controller uses it directly; the agent
(``nodectl.agent``) serves it over HTTP. It only touches domains the driver owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nodectl.client import (
    API_VERSION,
    Artifact,
    InstancePower,
    InstanceSpec,
    InstanceStatus,
    NicSpec,
    NodeError,
    NodeInfo,
    VolumeSpec,
    tap_name,
)
from nodectl.domain import Disk, FileSource, Nic, RbdHost, RbdSource
from nodectl.driver.base import (
    DEFAULT_CMDLINE,
    ComputeDriver,
    DriverError,
    ImageRef,
    InstanceNotFound,
    InstanceState,
)
from nodectl.driver.base import InstanceSpec as DriverSpec
from nodectl.imagecache import ImageCache
from nodectl.staging import StagingError, stage_artifact
from nodectl.stats import NodeStats

__all__ = ["LocalNodeClient", "volume_disk"]

T = TypeVar("T")

_POWER: dict[InstanceState, InstancePower] = {
    InstanceState.RUNNING: "running",
    InstanceState.PAUSED: "paused",
    InstanceState.SHUTDOWN: "shutting-down",
    InstanceState.SHUTOFF: "stopped",
    InstanceState.CRASHED: "crashed",
    InstanceState.NOSTATE: "stopped",
}


def _serial(volume_id: str) -> str:
    """The disk serial for a volume (virtio-blk keeps 20 bytes: 'vol-' + 17 hex -> 'vol'+17)."""
    return volume_id if len(volume_id) <= 20 else volume_id.replace("-", "", 1)[:20]


def _volume_id(serial: str) -> str:
    if serial.startswith("vol") and "-" not in serial and len(serial) > 3:
        return f"vol-{serial[3:]}"
    return serial


def volume_disk(volume: VolumeSpec) -> Disk:
    """The libvirt disk for a storage attachment (``VolumeSpec.attachment``)."""
    try:
        return _volume_disk(volume)
    except (KeyError, TypeError, ValueError) as exc:
        raise NodeError(f"{volume.volume_id}: bad attachment: {exc}", retryable=False,
                        code="InvalidParameter") from exc


def _volume_disk(volume: VolumeSpec) -> Disk:
    att = volume.attachment
    kind = att.get("type")
    fmt = att.get("format", "raw")
    if fmt not in ("raw", "qcow2"):
        raise NodeError(f"{volume.volume_id}: unsupported format {fmt!r}", retryable=False,
                        code="InvalidParameter")
    if kind == "file":
        if not att.get("path"):
            raise NodeError(f"{volume.volume_id}: file attachment without path", retryable=False,
                            code="InvalidParameter")
        source: FileSource | RbdSource = FileSource(str(att["path"]), fmt)
    elif kind == "rbd":
        hosts: list[RbdHost] = []
        for mon in att.get("monitors", ()):
            if isinstance(mon, dict):
                hosts.append(RbdHost(str(mon["name"]), int(mon.get("port", 3300))))
            else:
                host, _, port = str(mon).rpartition(":")
                hosts.append(RbdHost(host.strip("[]"), int(port)) if host
                             else RbdHost(str(mon)))
        source = RbdSource(pool=str(att["pool"]), image=str(att["image"]), hosts=tuple(hosts),
                           auth_username=att.get("user"),
                           secret_uuid=att.get("secret_uuid") or att.get("secret"), format=fmt)
    else:
        raise NodeError(f"{volume.volume_id}: unsupported attachment type {kind!r}",
                        retryable=False, code="InvalidParameter")
    return Disk(target=volume.device.removeprefix("/dev/"), source=source,
                serial=_serial(volume.volume_id), shareable=att.get("shareable") is True)


class LocalNodeClient:
    """A ``NodeClient`` that drives ``driver`` in this process.

    ``cache`` must be the driver's image cache (``driver.images`` for the libvirt
    drivers): artifacts are staged to ``cache.base_path(image_id)`` and the driver
    finds them there. ``bundle_key`` is the PEM of the RSA key that unwraps bundle
    keys (the cloud's ``<data>/ca/cloud-bundle.key``, or a node key the cloud
    wrapped for in a download manifest).
    """

    def __init__(self, driver: ComputeDriver, cache: ImageCache, name: str, *,
                 address: str = "127.0.0.1", netns: str = "",
                 bundle_key: bytes | Path | None = None, stop_grace: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None, poll_interval: float = 0.1) -> None:
        self.driver, self.cache, self.name = driver, cache, name
        self.address, self.netns = address, netns
        self.bundle_key = bundle_key.read_bytes() if isinstance(bundle_key, Path) else bundle_key
        self.stop_grace, self.poll_interval = stop_grace, poll_interval
        self.ssl_context = ssl_context
        self._instance_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._image_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._background: set[asyncio.Task[None]] = set()

    # -- plumbing ---------------------------------------------------------------------
    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except InstanceNotFound as exc:
            raise NodeError(f"no instance {exc}", retryable=False, code="InstanceNotFound") from exc
        except DriverError as exc:
            raise NodeError(str(exc), retryable=True, code="DriverError") from exc
        except ValueError as exc:
            raise NodeError(str(exc), retryable=False, code="InvalidParameter") from exc

    async def _state(self, instance_id: str) -> InstanceState | None:
        try:
            return await self._call(self.driver.instance_state, instance_id)
        except NodeError as exc:
            if exc.code == "InstanceNotFound":
                return None
            raise

    def _volumes_sync(self, instance_id: str) -> dict[str, str]:
        """volume id -> target of the disks carrying a volume serial."""
        domain = self.driver.get_domain(instance_id)
        return {_volume_id(d.serial): d.target for d in domain.disks if d.serial}

    def _status_sync(self, instance_id: str) -> InstanceStatus:
        try:
            state = self.driver.instance_state(instance_id)
            volumes = self._volumes_sync(instance_id)
        except InstanceNotFound:
            return InstanceStatus(instance_id, "missing")
        return InstanceStatus(instance_id, _POWER[state], detail=state.value,
                              volumes=tuple(sorted(volumes)))

    async def _status(self, instance_id: str) -> InstanceStatus:
        return await self._call(self._status_sync, instance_id)

    async def _stage(self, artifact: Artifact) -> Path:
        async with self._image_locks[artifact.image_id]:
            try:
                return await asyncio.to_thread(stage_artifact, self.cache, artifact,
                                               bundle_key=self.bundle_key,
                                               ssl_context=self.ssl_context)
            except StagingError as exc:
                raise NodeError(str(exc), retryable=exc.retryable,
                                code="ImageStagingFailed") from exc
            except ValueError as exc:
                raise NodeError(str(exc), retryable=False, code="InvalidParameter") from exc

    async def _driver_spec(self, spec: InstanceSpec) -> DriverSpec:
        kernel = await self._stage(spec.kernel)
        ramdisk = await self._stage(spec.ramdisk) if spec.ramdisk is not None else None
        # an EBS-backed instance boots from its root volume (device vda): no image to stage
        root = next((volume_disk(v) for v in spec.volumes
                     if v.device.removeprefix("/dev/") == "vda"), None)
        image = await self._stage(spec.image) if root is None else Path("/nonexistent")
        return DriverSpec(
            instance_id=spec.instance_id,
            image=ImageRef(spec.image.image_id, image),
            kernel=ImageRef(spec.kernel.image_id, kernel),
            ramdisk=ImageRef(spec.ramdisk.image_id, ramdisk)
            if spec.ramdisk is not None and ramdisk is not None else None,
            cmdline=spec.cmdline or DEFAULT_CMDLINE,
            memory_mib=spec.memory_mib, vcpus=spec.vcpus,
            root_size_mib=spec.root_size_mib, ephemeral_mib=spec.ephemeral_mib,
            nics=tuple(Nic(mac=n.mac, bridge=n.bridge,
                           target_dev=n.target_dev or tap_name(spec.instance_id, i))
                       for i, n in enumerate(spec.nics)),
            root_disk=root,
        )

    def _prepare_spare(self, image_id: str) -> None:
        """Make the image's next overlay in the background (off the launch path)."""
        async def run() -> None:
            with contextlib.suppress(Exception):  # only an optimisation: staging falls back
                await asyncio.to_thread(self.cache.prepare_spare, image_id)

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _wait_off(self, instance_id: str, timeout: float) -> InstanceState | None:
        deadline = time.monotonic() + timeout
        while True:
            state = await self._state(instance_id)
            if state in (None, InstanceState.SHUTOFF, InstanceState.CRASHED):
                return state
            if time.monotonic() >= deadline:
                return state
            await asyncio.sleep(self.poll_interval)

    # -- NodeClient ---------------------------------------------------------------------
    async def node_info(self) -> NodeInfo:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        instances = await self._call(self.driver.list_instances)
        return NodeInfo(
            name=self.name, address=self.address, cores=os.cpu_count() or 1,
            memory_mib=pages // (1024 * 1024),
            virt_type=str(getattr(self.driver, "virt_type", "qemu")), netns=self.netns,
            version=API_VERSION,
            extra={"driver": type(self.driver).__name__, "instances": len(instances),
                   "bundles": self.bundle_key is not None},
        )

    async def ensure_instance(self, spec: InstanceSpec) -> InstanceStatus:
        iid = spec.instance_id
        try:
            self.cache.instance_dir(iid)
        except ValueError as exc:
            raise NodeError(str(exc), retryable=False, code="InvalidParameter") from exc
        disks = [volume_disk(v) for v in spec.volumes]  # validate before doing anything
        async with self._instance_locks[iid]:
            state = await self._state(iid)
            if state is InstanceState.SHUTDOWN:  # wanted running: finish the shutdown first
                state = await self._wait_off(iid, self.stop_grace)
                if state is InstanceState.SHUTDOWN:
                    await self._call(self.driver.power_off, iid)
            if state is None or state in (InstanceState.SHUTOFF, InstanceState.CRASHED,
                                          InstanceState.NOSTATE, InstanceState.SHUTDOWN):
                driver_spec = await self._driver_spec(spec)
                await self._call(self.driver.spawn, driver_spec)
                self._prepare_spare(spec.image.image_id)
            attached = await self._call(self._volumes_sync, iid)
            for volume, disk in zip(spec.volumes, disks, strict=True):
                if volume.volume_id not in attached:
                    await self._call(self.driver.attach_disk, iid, disk)
            return await self._status(iid)

    async def stop_instance(self, instance_id: str, force: bool = False) -> InstanceStatus:
        async with self._instance_locks[instance_id]:
            state = await self._state(instance_id)
            if state is None:
                return InstanceStatus(instance_id, "missing")
            if state in (InstanceState.RUNNING, InstanceState.PAUSED, InstanceState.SHUTDOWN):
                if not force and state is not InstanceState.PAUSED:
                    if state is InstanceState.RUNNING:
                        await self._call(self.driver.shutdown, instance_id)
                    state = await self._wait_off(instance_id, self.stop_grace)
                if state not in (None, InstanceState.SHUTOFF, InstanceState.CRASHED):
                    await self._call(self.driver.power_off, instance_id)
            return await self._status(instance_id)

    async def reboot_instance(self, instance_id: str) -> None:
        async with self._instance_locks[instance_id]:
            await self._call(self.driver.reboot, instance_id, False)

    async def delete_instance(self, instance_id: str) -> None:
        async with self._instance_locks[instance_id]:
            await self._call(self.driver.destroy, instance_id)
        self._instance_locks.pop(instance_id, None)

    async def list_instances(self) -> list[InstanceStatus]:
        ids = await self._call(self.driver.list_instances)
        statuses = [await self._status(iid) for iid in ids]
        found = [s for s in statuses if s.power != "missing"]
        # Files without a domain (a crash between staging and define, or during a
        # delete) are listed as "missing": the controller deletes them unless a row
        # still wants the instance, in which case it ensures it.
        known = {s.instance_id for s in found}
        staged = await asyncio.to_thread(self.cache.staged_instances)
        found += [InstanceStatus(iid, "missing", detail="staged")
                  for iid in staged if iid not in known]
        return found

    async def console_output(self, instance_id: str) -> str:
        return await self._call(self.driver.console_output, instance_id)

    async def guest_stats(self) -> NodeStats:
        return await self._call(self.driver.all_stats)

    async def attach_volume(self, instance_id: str, volume: VolumeSpec) -> None:
        disk = volume_disk(volume)
        async with self._instance_locks[instance_id]:
            attached = await self._call(self._volumes_sync, instance_id)
            if volume.volume_id in attached:
                return
            if disk.target in attached.values() or disk.target == "vda":
                raise NodeError(f"{disk.target} on {instance_id} is in use", retryable=False,
                                code="VolumeInUse")
            await self._call(self.driver.attach_disk, instance_id, disk)

    async def ensure_nics(self, instance_id: str, nics: tuple[NicSpec, ...]) -> None:
        async with self._instance_locks[instance_id]:
            domain = await self._call(self.driver.get_domain, instance_id)
            wanted = {n.mac.lower() for n in nics}
            for nic in domain.nics:
                if nic.mac.lower() not in wanted:
                    await self._call(self.driver.detach_nic, instance_id, nic.mac)
            present = {n.mac.lower() for n in domain.nics}
            for index, spec in enumerate(nics):
                if spec.mac.lower() not in present:
                    await self._call(self.driver.attach_nic, instance_id, Nic(
                        mac=spec.mac, bridge=spec.bridge,
                        target_dev=spec.target_dev or tap_name(instance_id, index)))

    async def detach_volume(self, instance_id: str, volume_id: str) -> None:
        async with self._instance_locks[instance_id]:
            try:
                attached = await self._call(self._volumes_sync, instance_id)
            except NodeError as exc:
                if exc.code == "InstanceNotFound":
                    return
                raise
            target = attached.get(volume_id)
            if target is not None:
                await self._call(self.driver.detach_disk, instance_id, target)
