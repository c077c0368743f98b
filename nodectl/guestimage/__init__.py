"""The project's tiny guest: Debian cloud kernel, busybox initramfs, ext4 root disk.

Public surface: ``build(out) -> GuestImage``. CLI: ``python -m nodectl.guestimage
build --out DIR``.
"""

from nodectl.guestimage.builder import GuestImage, build, default_image_cache

__all__ = ["GuestImage", "build", "default_image_cache"]
