"""The demo image set ``cloudctl up`` registers so a new user can run an instance at once.

Builds (or copies from the build cache) the project's tiny guest
(``nodectl.guestimage``) into ``<data>/images/demo`` and registers it, once, as a
public eki/eri/emi owned by the ``eucalyptus`` account, with ``file://``
artifacts for the all-in-one node. Runs in the background in worker 0; a failure
(no network for the kernel package, say) is logged and retried at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.properties.registry import PropertyDef, PropertyType, registry
from cloudctl.services.ec2.images import images

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.compute.demo")

INSTALL_DEMO = registry.define(PropertyDef(
    "cloud.images.install_demo", PropertyType.BOOLEAN, "true",
    "Register the tiny demo guest (public eki/eri/emi) at start when it is not there yet "
    "(CLOUDCTL_DEMO_IMAGE=0 turns it off).",
))
DEMO_NAME = "cloudctl-tiny-guest"


async def install_demo_images(cloud: Cloud) -> str | None:
    """Register the demo set if missing; returns the emi id (None when disabled)."""
    if os.environ.get("CLOUDCTL_DEMO_IMAGE") == "0" or not cloud.properties.get(INSTALL_DEMO):
        return None
    from cloudctl.services.iam.api import cloud_admin_account_id

    region = cloud.region
    async with cloud.sessions() as session:
        existing = await _registered(session, region)
    if existing is not None:
        return existing
    from nodectl.guestimage import build

    out = cloud.settings.data_dir / "images" / "demo"
    guest = await asyncio.to_thread(build, out)
    async with cloud.sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            # hosts of one cloud start together: one registers, the others find it
            await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended("
                                       ":k, 0))"), {"k": f"demo-images:{region}"})
        existing = await _registered(session, region)
        if existing is not None:
            return existing
        owner = await cloud_admin_account_id(session)
        eki = await images.register(session, owner, region, name=f"{DEMO_NAME}-kernel",
                                    kind="kernel", location=f"file://{guest.kernel}",
                                    public=True, description="tiny guest kernel (demo)")
        eri = await images.register(session, owner, region, name=f"{DEMO_NAME}-ramdisk",
                                    kind="ramdisk", location=f"file://{guest.ramdisk}",
                                    public=True, description="tiny guest ramdisk (demo)")
        emi = await images.register(session, owner, region, name=DEMO_NAME, kind="machine",
                                    location=f"file://{guest.rootfs}", public=True,
                                    kernel_id=eki.image_id, ramdisk_id=eri.image_id,
                                    description="tiny busybox guest with a shell cloud-init "
                                                "(demo)")
    log.info("demo image set registered: %s (%s, %s)", emi.image_id, eki.image_id, eri.image_id)
    return emi.image_id


async def _registered(session: AsyncSession, region: str) -> str | None:
    """The demo emi already registered in ``region``, if any."""
    found = (await session.execute(select(images.Image.image_id).where(
        images.Image.name == DEMO_NAME, images.Image.region == region))).scalars().first()
    return str(found) if found is not None else None


async def run(cloud: Cloud) -> None:
    try:
        await install_demo_images(cloud)
    except Exception:
        log.exception("the demo image set could not be installed")
