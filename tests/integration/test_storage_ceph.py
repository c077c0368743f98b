"""The storage contracts against real Ceph (RADOS objects, RBD volumes).

The same test functions as the unit tests (``BlobStoreContract``,
``BlockBackendContract``), parametrized over the file backend and the Ceph
one, on the single-node cluster from tests/infra/ceph.py. One module so one
session-scoped cluster serves both.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from storagectl.blocks import BlockBackend, open_block_backend
from storagectl.objects import BlobStore, open_blob_store
from tests.infra.ceph import CephCluster, ceph_session
from tests.unit.test_storage_blocks import BlockBackendContract
from tests.unit.test_storage_objects import BlobStoreContract

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def ceph_cluster() -> Iterator[CephCluster]:
    # Shares the process-wide cluster with a conftest fixture built on ceph_session.
    yield from ceph_session()


@pytest.fixture(params=["file", "ceph-rados"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    if request.param == "file":
        return "file", {"root": str(tmp_path / "blobs")}
    cluster: CephCluster = request.getfixturevalue("ceph_cluster")
    # A fresh RADOS namespace per test keeps tests independent; a small stripe
    # makes every test cross stripe boundaries.
    return "ceph-rados", {**cluster.rados_config(), "namespace": secrets.token_hex(4),
                          "stripe_size": 64 << 10}


@pytest.fixture
async def store(store_spec: tuple[Any, dict[str, Any]]) -> AsyncIterator[BlobStore]:
    kind, config = store_spec
    s = open_blob_store(kind, **config)
    yield s
    await s.close()


class TestBlobStores(BlobStoreContract):
    """Objects: file and RADOS through the same functions."""

    big_size = 64 << 20  # memstore holds the data in the OSD's RAM


def _never_open_what_is_not_there(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every image the backend opens is in the pool's directory: librbd aborted the
    whole process in its clean-up after a failed open (twice in the suite)."""
    import rbd

    from storagectl.blocks import rbd as rbd_backend

    opened = rbd.Image

    def image(io: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        assert name in rbd.RBD().list(io), f"opened {name}, which is not there"
        return opened(io, name, *args, **kwargs)

    monkeypatch.setattr(rbd_backend.rbd, "Image", image)


@pytest.fixture(params=["file", "ceph-rbd"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BlockBackend]:
    if request.param == "file":
        b = open_block_backend("file", root=str(tmp_path / "volumes"))
    else:
        _never_open_what_is_not_there(monkeypatch)
        cluster: CephCluster = request.getfixturevalue("ceph_cluster")
        b = open_block_backend("ceph-rbd", **cluster.rbd_config(),
                               prefix=f"t{secrets.token_hex(3)}-")
    yield b
    for snap in await b.list_snapshots():
        await b.delete_snapshot(snap)
    for vol in await b.list_volumes():
        await b.delete_volume(vol)
    await b.close()


class TestBlockBackends(BlockBackendContract):
    """Volumes: file and RBD through the same functions."""


async def test_rbd_delete_finishes_a_half_removed_image(ceph_cluster: CephCluster,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """An image whose removal stopped half-way (its header gone, its directory entry
    left, as after a remove that failed "busy" part-way) is still listed; deleting the
    volume again must clear it, not take the missing header for "already gone", and
    without opening it (librbd's failed open of such an image aborted the process once)."""
    import rados
    import rbd

    from storagectl.blocks import rbd as rbd_backend

    config = ceph_cluster.rbd_config()
    backend = open_block_backend("ceph-rbd", **config, prefix=f"h{secrets.token_hex(3)}-")
    try:
        await backend.create_volume("vol-halfgone", 1)
        cluster = rados.Rados(conffile=config["conffile"], name=config["client_name"],
                              conf={"keyring": config["keyring"]})
        cluster.connect()
        try:
            with cluster.open_ioctx(config["pool"]) as io:
                name = backend._vol("vol-halfgone")  # type: ignore[attr-defined]
                with rbd.Image(io, name) as img:
                    image_id = img.id()
                io.remove_object(f"rbd_header.{image_id}")
        finally:
            cluster.shutdown()
        assert "vol-halfgone" in await backend.list_volumes()
        opened = rbd.Image

        def image(io: Any, image_name: str, *args: Any, **kwargs: Any) -> Any:
            assert image_name != name, "the half-removed image was opened"
            return opened(io, image_name, *args, **kwargs)

        monkeypatch.setattr(rbd_backend.rbd, "Image", image)
        assert not await backend.volume_exists("vol-halfgone")  # not a usable image
        await backend.delete_volume("vol-halfgone")
        assert "vol-halfgone" not in await backend.list_volumes()
    finally:
        await backend.close()
