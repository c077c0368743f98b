"""Helpers for the networking tests: a second account, NICs registered as compute does.

Until RunInstances lands, tests stand in for the compute provider by calling
the public networking functions it will call (`allocate_instance_nic`,
`bind_instance_nic`, `set_instance_groups`, `assign_public_ip`) against the
live cloud's database, in one transaction each, exactly as the provider will.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

from tests.support import LiveCloud


def second_account(cloud: LiveCloud, name: str) -> tuple[str, str, str]:
    """(access key, secret key, account id) of the admin of a new account ``name``."""
    cloud.client("iam").create_account(AccountName=name, Email=f"{name}@example.com")
    creds = json.loads(cloud.cli("--output", "json", "credentials", "--account", name).stdout)
    return creds["AccessKeyId"], creds["SecretAccessKey"], creds["AccountId"]


def _url(cloud: LiveCloud) -> str:
    return cloud.database_url or f"sqlite+aiosqlite:///{cloud.data_dir / 'cloud.db'}"


async def _launch(cloud: LiveCloud, account: str, instance_id: str, groups: list[str] | None,
                  host: str | None, interface: str | None, public: bool) -> dict[str, Any]:
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.ec2.network import addresses, security_groups
    from cloudctl.services.network import nics

    engine = create_engine(_url(cloud))
    try:
        async with session_factory(engine)() as session, session.begin():
            gids = await security_groups.resolve_groups_for_launch(
                session, account, cloud.region, None, groups)
            await security_groups.set_instance_groups(session, account, cloud.region,
                                                      instance_id, gids)
            nic = await nics.allocate_instance_nic(session, account, cloud.region, instance_id)
            if host is not None and interface is not None:
                await nics.bind_instance_nic(session, instance_id, host, interface)
            pub = await addresses.assign_public_ip(session, instance_id, cloud.region) \
                if public else None
        return {"instance_id": instance_id, "mac": nic.mac, "private_ip": nic.private_ip,
                "public_ip": pub, "groups": gids}
    finally:
        await engine.dispose()


def launch(cloud: LiveCloud, account: str, groups: list[str] | None = None,
           host: str | None = None, interface: str | None = None,
           public: bool = True, instance_id: str | None = None) -> dict[str, Any]:
    """Record an instance's network side as RunInstances will (NIC, groups, public IP)."""
    iid = instance_id or f"i-{secrets.token_hex(9)[:17]}"  # 17 hex digits, as EC2
    return asyncio.run(_launch(cloud, account, iid, groups, host, interface, public))


async def _terminate(cloud: LiveCloud, instance_id: str) -> None:
    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.services.ec2.network import addresses, security_groups
    from cloudctl.services.network import nics

    engine = create_engine(_url(cloud))
    try:
        async with session_factory(engine)() as session, session.begin():
            await addresses.release_instance_ip(session, instance_id)
            await security_groups.forget_instance(session, instance_id)
            await nics.release_instance_nic(session, instance_id)
    finally:
        await engine.dispose()


def terminate(cloud: LiveCloud, instance_id: str) -> None:
    asyncio.run(_terminate(cloud, instance_id))
