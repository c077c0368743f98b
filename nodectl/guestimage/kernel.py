"""The Debian cloud kernel the tiny guest boots, unpacked (never installed).

Owns the kernel cache dir: ``apt-get download linux-image-cloud-amd64`` and the
real ``linux-image-<ver>-cloud-amd64`` it depends on, ``dpkg-deb -x`` into
``<cache>/root``. ``scripts/deps/node.sh`` fills the same cache. Nothing here
installs packages or touches /boot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CloudKernel", "default_kernel_cache", "ensure_kernel"]

META_PACKAGE = "linux-image-cloud-amd64"


def default_kernel_cache() -> Path:
    return Path(os.environ.get("NODECTL_KERNEL_CACHE", "/var/cache/nodectl/kernel"))


@dataclass(frozen=True)
class CloudKernel:
    """An unpacked kernel: the vmlinuz and its modules tree."""

    version: str
    vmlinuz: Path
    modules: Path

    def module(self, name: str) -> Path:
        """Path of module ``name`` (e.g. "virtio_blk") in the modules tree."""
        for suffix in (".ko", ".ko.xz", ".ko.zst"):
            hits = sorted(self.modules.rglob(name + suffix))
            if hits:
                return hits[0]
        raise FileNotFoundError(f"kernel module {name} not in {self.modules}")


def _find(root: Path) -> CloudKernel | None:
    images = sorted((root / "boot").glob("vmlinuz-*"))
    if not images:
        return None
    version = images[-1].name.removeprefix("vmlinuz-")
    for base in (root / "lib" / "modules", root / "usr" / "lib" / "modules"):
        if (base / version).is_dir():
            return CloudKernel(version, images[-1], base / version)
    return None


def _real_package() -> str:
    out = subprocess.run(["apt-cache", "depends", META_PACKAGE], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s*Depends: (linux-image-\d\S*-cloud-amd64)$", line)
        if m:
            return m.group(1)
    raise RuntimeError(f"cannot resolve the kernel package {META_PACKAGE} depends on")


def ensure_kernel(cache: Path | None = None) -> CloudKernel:
    """The unpacked cloud kernel, downloading and unpacking it on first use."""
    cache = cache or default_kernel_cache()
    found = _find(cache / "root")
    if found is not None:
        return found
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        os.chmod(tmp, 0o755)  # apt's _apt user downloads into it
        subprocess.run(["apt-get", "download", META_PACKAGE, _real_package()],
                       cwd=tmp, check=True, capture_output=True)
        staging = Path(tmp) / "root"
        for deb in sorted(Path(tmp).glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(staging)], check=True)
        shutil.rmtree(cache / "root", ignore_errors=True)
        staging.rename(cache / "root")
    found = _find(cache / "root")
    if found is None:
        raise RuntimeError(f"no vmlinuz in {cache / 'root'} after unpacking")
    return found
