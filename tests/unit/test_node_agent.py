"""The NodeClient contract on the fake driver, in-process and over the agent's mutual TLS.

Every behaviour test runs twice: against ``LocalNodeClient`` and against
``RemoteNodeClient`` talking to ``nodectl.agent`` on loopback with certificates
from a cloud CA made by ``cloudctl.pki``. The TLS tests check that a client
without a certificate, or with one from another CA, is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("libvirt")
pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img"),
    pytest.mark.asyncio(loop_scope="session"),  # the same loop as the async fixtures
]

from aiohttp import web  # noqa: E402

from cloudctl.images.bundle import bundle_image  # noqa: E402
from cloudctl.images.keys import ensure_bundle_keypair, ensure_cloud_bundle_cert  # noqa: E402
from cloudctl.pki import CertPaths, ensure_ca, issue  # noqa: E402
from nodectl.agent import start_agent  # noqa: E402
from nodectl.client import (  # noqa: E402
    Artifact,
    InstanceSpec,
    NicSpec,
    NodeClient,
    NodeError,
    VolumeSpec,
)
from nodectl.driver.fake import FakeDriver  # noqa: E402
from nodectl.local import LocalNodeClient  # noqa: E402
from nodectl.remote import RemoteNodeClient  # noqa: E402
from nodectl.tls import client_context, server_context  # noqa: E402

IID = "i-0000000a"


@dataclass
class Pki:
    ca: CertPaths
    agent: CertPaths
    controller: CertPaths
    other_ca: CertPaths
    stranger: CertPaths
    bundle: CertPaths
    user: CertPaths


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = ensure_ca(root / "ca")
    other = ensure_ca(root / "other", "elsewhere")
    return Pki(
        ca=ca,
        agent=issue(ca, root / "ca" / "services", "nodectl"),
        controller=issue(ca, root / "ca" / "services", "cloudctl"),
        other_ca=other,
        stranger=issue(other, root / "other" / "services", "cloudctl"),
        bundle=ensure_cloud_bundle_cert(root / "ca"),
        user=ensure_bundle_keypair(root / "ca", CertPaths(root / "u.pem", root / "u.key"), "u"),
    )


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[FakeDriver]:
    d = FakeDriver(state_dir=tmp_path / "fake")
    yield d
    d.close()


@pytest.fixture
def local(driver: FakeDriver, pki: Pki) -> LocalNodeClient:
    return LocalNodeClient(driver, driver.images, "node-a", bundle_key=pki.bundle.key,
                           stop_grace=2.0, poll_interval=0.02)


@pytest.fixture
async def agent_url(local: LocalNodeClient, pki: Pki) -> AsyncIterator[str]:
    runner, port = await start_agent(local, "127.0.0.1", 0,
                                     server_context(pki.ca.cert, pki.agent.cert, pki.agent.key))
    yield f"https://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture(params=["local", "remote"])
async def node(request: pytest.FixtureRequest, local: LocalNodeClient,
               pki: Pki) -> AsyncIterator[NodeClient]:
    if request.param == "local":
        yield local
        return
    runner, port = await start_agent(local, "127.0.0.1", 0,
                                     server_context(pki.ca.cert, pki.agent.cert, pki.agent.key))
    client = RemoteNodeClient(f"https://127.0.0.1:{port}", pki.ca.cert, pki.controller.cert,
                              pki.controller.key)
    yield client
    await client.close()
    await runner.cleanup()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, size in (("kernel", 4096), ("ramdisk", 8192), ("root", 1024 * 1024)):
        p = tmp_path / "src" / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(os.urandom(size))
        out[name] = p
    return out


def _spec(files: dict[str, Path], iid: str = IID, **kw: object) -> InstanceSpec:
    base: dict[str, object] = dict(
        instance_id=iid,
        kernel=Artifact("eki-00000001", "kernel", url=files["kernel"].as_uri()),
        ramdisk=Artifact("eri-00000001", "ramdisk", url=files["ramdisk"].as_uri()),
        image=Artifact("emi-00000001", "machine", url=files["root"].as_uri()),
        nics=(NicSpec("d0:0d:00:00:00:0a", "br-test", "10.0.0.10"),),
    )
    base.update(kw)
    return InstanceSpec(**base)  # type: ignore[arg-type]


def _volume(tmp_path: Path, vid: str = "vol-0123456789abcdef0", dev: str = "vdc") -> VolumeSpec:
    path = tmp_path / f"{vid}.img"
    path.write_bytes(b"\0" * 65536)
    return VolumeSpec(vid, dev, {"type": "file", "path": str(path), "format": "raw"})


async def test_node_info(node: NodeClient) -> None:
    info = await node.node_info()
    assert info.name == "node-a" and info.version == "v1"
    assert info.cores >= 1 and info.memory_mib > 0 and info.virt_type == "qemu"


async def test_ensure_is_idempotent_and_boots(node: NodeClient, files: dict[str, Path],
                                              local: LocalNodeClient) -> None:
    status = await node.ensure_instance(_spec(files))
    assert status.power == "running"
    again = await node.ensure_instance(_spec(files))
    assert again == status
    assert [s.instance_id for s in await node.list_instances()] == [IID]
    assert f"instance-id {IID}" in await node.console_output(IID)
    cached = local.cache.base_path("emi-00000001")
    assert cached.read_bytes() == files["root"].read_bytes()


async def test_guest_stats_in_bulk(node: NodeClient, files: dict[str, Path],
                                   local: LocalNodeClient, tmp_path: Path) -> None:
    """Every guest's counters in one call; they grow with the (fake) guest's load and a
    stopped guest reports its state with zero counters."""
    from nodectl.driver.fake import FakeDriver, GuestLoad

    driver = local.driver
    assert isinstance(driver, FakeDriver)
    now = [1000.0]
    driver.clock = lambda: now[0]
    await node.ensure_instance(_spec(files, vcpus=2))
    await node.ensure_instance(_spec(files, iid="i-0000000b"))
    await node.attach_volume(IID, _volume(tmp_path))
    first = await node.guest_stats()
    assert first.at == 1000.0
    assert [g.instance_id for g in first.guests] == [IID, "i-0000000b"]
    driver.set_load(IID, GuestLoad(cpu=1.0, net_in_bps=1000, net_out_bps=500,
                                   disk_read_bps=4096, disk_write_bps=0))
    now[0] += 10
    second = await node.guest_stats()
    busy = second.guests[0]
    assert busy.state == "running" and busy.vcpus == 2
    assert busy.cpu_time_ns - first.guests[0].cpu_time_ns == pytest.approx(20e9, rel=1e-6)
    assert [d.device for d in busy.disks] == ["vda", "vdc"]
    assert [n.device for n in busy.nics] == ["vn-0000000a"]
    assert busy.nics[0].rx_bytes - first.guests[0].nics[0].rx_bytes == pytest.approx(10000, abs=2)
    assert sum(d.read_bytes for d in busy.disks) - sum(
        d.read_bytes for d in first.guests[0].disks) == pytest.approx(40960, abs=4)
    await node.stop_instance("i-0000000b", force=True)
    stopped = (await node.guest_stats()).guests[1]
    assert stopped.state == "shutoff" and stopped.cpu_time_ns == 0 and stopped.nics == ()


async def test_stop_keeps_disks_and_ensure_starts_again(
        node: NodeClient, files: dict[str, Path], local: LocalNodeClient) -> None:
    await node.ensure_instance(_spec(files))
    root = local.cache.instance_dir(IID) / "root.qcow2"
    assert root.exists()
    stopped = await node.stop_instance(IID)
    assert stopped.power == "stopped"
    assert root.exists()
    assert (await node.stop_instance(IID, force=True)).power == "stopped"
    assert (await node.list_instances())[0].power == "stopped"
    assert (await node.ensure_instance(_spec(files))).power == "running"
    await node.reboot_instance(IID)
    assert (await node.list_instances())[0].power == "running"


async def test_delete_removes_everything_and_is_idempotent(
        node: NodeClient, files: dict[str, Path], local: LocalNodeClient) -> None:
    await node.ensure_instance(_spec(files))
    await node.delete_instance(IID)
    assert await node.list_instances() == []
    assert not local.cache.instance_dir(IID).exists()
    await node.delete_instance(IID)
    assert (await node.stop_instance(IID)).power == "missing"


async def test_volumes_attach_detach(node: NodeClient, files: dict[str, Path],
                                     tmp_path: Path) -> None:
    boot_vol = _volume(tmp_path, "vol-00000001", "vdb")
    status = await node.ensure_instance(_spec(files, volumes=(boot_vol,)))
    assert status.volumes == ("vol-00000001",)
    extra = _volume(tmp_path)
    await node.attach_volume(IID, extra)
    await node.attach_volume(IID, extra)  # idempotent
    listed = (await node.list_instances())[0]
    assert listed.volumes == ("vol-00000001", "vol-0123456789abcdef0")
    with pytest.raises(NodeError) as err:
        await node.attach_volume(IID, _volume(tmp_path, "vol-00000002", "vdc"))
    assert err.value.code == "VolumeInUse" and not err.value.retryable
    await node.detach_volume(IID, "vol-0123456789abcdef0")
    await node.detach_volume(IID, "vol-0123456789abcdef0")
    assert (await node.list_instances())[0].volumes == ("vol-00000001",)
    await node.detach_volume("i-gone", "vol-00000001")  # unknown instance: nothing to do


async def test_errors_carry_code_and_retryable(node: NodeClient, files: dict[str, Path],
                                               tmp_path: Path) -> None:
    with pytest.raises(NodeError) as err:
        await node.console_output("i-00000404")
    assert err.value.code == "InstanceNotFound" and not err.value.retryable
    with pytest.raises(NodeError) as err:
        await node.reboot_instance("i-00000404")
    assert err.value.code == "InstanceNotFound"
    missing = Artifact("emi-0000dead", "machine", url=(tmp_path / "nope").as_uri())
    with pytest.raises(NodeError) as err:
        await node.ensure_instance(_spec(files, image=missing))
    assert err.value.code == "ImageStagingFailed" and not err.value.retryable
    assert await node.list_instances() == []
    with pytest.raises(NodeError) as err:
        await node.ensure_instance(_spec(files, iid="../etc"))
    assert err.value.code == "InvalidParameter"
    bad_vol = VolumeSpec("vol-1", "vdb", {"type": "iscsi"})
    with pytest.raises(NodeError) as err:
        await node.ensure_instance(_spec(files, volumes=(bad_vol,)))
    assert err.value.code == "InvalidParameter"


async def test_http_artifacts_are_downloaded_and_checked(
        node: NodeClient, files: dict[str, Path], local: LocalNodeClient) -> None:
    app = web.Application()
    app.router.add_static("/img/", files["root"].parent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        sha = hashlib.sha256(files["root"].read_bytes()).hexdigest()
        url = f"http://127.0.0.1:{port}/img/root?X-Amz-Signature=secret"
        bad = Artifact("emi-000000bd", "machine", url=url, sha256="0" * 64)
        with pytest.raises(NodeError) as err:
            await node.ensure_instance(_spec(files, image=bad))
        assert err.value.code == "ImageStagingFailed" and "secret" not in str(err.value)
        good = Artifact("emi-000000ab", "machine", url=url, sha256=sha)
        assert (await node.ensure_instance(_spec(files, image=good))).power == "running"
        assert local.cache.base_path("emi-000000ab").read_bytes() == files["root"].read_bytes()
    finally:
        await runner.cleanup()


async def test_bundled_image_is_unbundled_on_the_node(
        node: NodeClient, files: dict[str, Path], local: LocalNodeClient, pki: Pki,
        tmp_path: Path) -> None:
    result = bundle_image(files["root"], "machine", pki.user.cert, pki.user.key,
                          pki.bundle.cert, tmp_path / "bundle", part_size=256 * 1024)
    art = Artifact("emi-000000bb", "machine", bundle_manifest_url=result.manifest.as_uri())
    assert (await node.ensure_instance(_spec(files, image=art))).power == "running"
    assert local.cache.base_path("emi-000000bb").read_bytes() == files["root"].read_bytes()
    tampered = tmp_path / "bundle" / "root.part.02"
    tampered.write_bytes(b"x" + tampered.read_bytes()[1:])
    art2 = Artifact("emi-000000bc", "machine", bundle_manifest_url=result.manifest.as_uri())
    with pytest.raises(NodeError) as err:
        await node.ensure_instance(_spec(files, iid="i-0000000b", image=art2))
    assert err.value.code == "ImageStagingFailed" and "digest" in str(err.value)
    assert not local.cache.base_path("emi-000000bc").exists()


# -- mutual TLS ------------------------------------------------------------------------------

async def test_client_without_certificate_is_refused(agent_url: str, pki: Pki) -> None:
    async with RemoteNodeClient(agent_url, pki.ca.cert) as client:
        with pytest.raises(NodeError) as err:
            await client.node_info()
    assert err.value.code == "Unavailable"


async def test_client_with_certificate_from_another_ca_is_refused(agent_url: str,
                                                                  pki: Pki) -> None:
    ctx = client_context(pki.ca.cert, pki.stranger.cert, pki.stranger.key)
    async with RemoteNodeClient(agent_url, ssl_context=ctx) as client:
        with pytest.raises(NodeError) as err:
            await client.node_info()
    assert err.value.code == "Unavailable"


@pytest.mark.parametrize("who", ["service", "user"])
async def test_client_with_another_identity_from_the_same_ca_is_refused(
        agent_url: str, pki: Pki, local: LocalNodeClient, files: dict[str, Path],
        tmp_path: Path, who: str) -> None:
    """The CA signs other services' and users' bundle certificates too: neither may
    drive the node (only the controller's ``cloudctl`` certificate)."""
    other = issue(pki.ca, tmp_path / "services", "netd") if who == "service" else pki.user
    ctx = client_context(pki.ca.cert, other.cert, other.key)
    async with RemoteNodeClient(agent_url, ssl_context=ctx) as client:
        for call in (client.node_info(), client.ensure_instance(_spec(files)),
                     client.guest_stats()):
            with pytest.raises(NodeError) as err:
                await call
            assert err.value.code == "AccessDenied" and not err.value.retryable
    assert await local.list_instances() == []
    async with RemoteNodeClient(agent_url, pki.ca.cert, pki.controller.cert,
                                pki.controller.key) as controller:
        assert (await controller.node_info()).name == "node-a"


async def test_agent_with_certificate_from_another_ca_is_not_trusted(agent_url: str,
                                                                     pki: Pki) -> None:
    async with RemoteNodeClient(agent_url, pki.other_ca.cert, pki.controller.cert,
                                pki.controller.key) as client:
        with pytest.raises(NodeError) as err:
            await client.node_info()
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) or isinstance(
        err.value.__cause__, ssl.SSLError)


async def test_plain_http_is_refused(agent_url: str) -> None:
    async with RemoteNodeClient(agent_url.replace("https", "http")) as client:
        with pytest.raises(NodeError):
            await client.node_info()


async def test_agent_rejects_bad_bodies(agent_url: str, pki: Pki) -> None:
    import aiohttp

    ctx = client_context(pki.ca.cert, pki.controller.cert, pki.controller.key)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
        async with s.put(f"{agent_url}/v1/instances/{IID}", data=b"{nope") as resp:
            assert resp.status == 400
            body = await resp.json()
            assert body["error"]["code"] == "InvalidParameter"
            assert body["error"]["retryable"] is False
        async with s.put(f"{agent_url}/v1/instances/i-other", json={"instance_id": IID}) as r2:
            assert r2.status == 400
        async with s.get(f"{agent_url}/v1/instances/{IID}/console") as r3:
            assert r3.status == 404
            assert (await r3.json())["error"]["code"] == "InstanceNotFound"


async def test_ensure_nics_hot_plugs_and_unplugs_by_mac(
        node: NodeClient, files: dict[str, Path], local: LocalNodeClient) -> None:
    """A NIC attached after launch is plugged into the running guest (live and in its
    definition), a second call changes nothing, one no longer wanted is unplugged."""
    first = NicSpec("d0:0d:00:00:00:0a", "br-test", "10.0.0.10")
    second = NicSpec("D0:0D:00:00:00:0B", "br-two", "10.0.1.10", target_dev="tvtwo")
    await node.ensure_instance(_spec(files, nics=(first,)))
    await node.ensure_nics(IID, (first, second))
    await node.ensure_nics(IID, (first, second))
    nics = local.driver.get_domain(IID).nics
    assert [(n.mac.lower(), n.bridge, n.target_dev) for n in nics] == [
        ("d0:0d:00:00:00:0a", "br-test", "vn-0000000a"),
        ("d0:0d:00:00:00:0b", "br-two", "tvtwo")]
    await node.ensure_nics(IID, (first,))
    assert [n.mac for n in local.driver.get_domain(IID).nics] == ["d0:0d:00:00:00:0a"]
    with pytest.raises(NodeError) as missing:
        await node.ensure_nics("i-0000ffff", (first,))
    assert missing.value.code == "InstanceNotFound"
