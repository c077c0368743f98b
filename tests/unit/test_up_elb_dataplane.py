"""``cloudctl up`` in VPC mode points load balancers in VPC subnets at the VPC host
agent's namespace (``loadbalancing.dataplane`` = ``{"vpc_netns": ...}``) on a new cloud's
database, follows that namespace when it moves, leaves an operator's own data plane
alone, and the data plane reads the value ``up`` wrote as a VPC-only configuration."""

from __future__ import annotations

import json
from pathlib import Path

from cloudctl.cli.up import stored_property
from cloudctl.cli.vpc_host import point_elb_at
from cloudctl.config import load_settings
from cloudctl.init import initialise
from cloudctl.services.elb.properties import DATAPLANE


def test_up_sets_the_vpc_namespace_of_load_balancers(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "cloud", database_url=None)
    assert initialise(settings).network_mode == "VPC"  # a new cloud: `up`'s default

    def stored() -> object:
        return DATAPLANE.parse(stored_property(settings, DATAPLANE.name))

    assert stored() == {}  # fresh: a VPC load balancer would have no namespace to plug into
    assert point_elb_at(settings, "cloudctl-libvirt-1") is not None
    assert stored() == {"vpc_netns": "cloudctl-libvirt-1"}
    assert point_elb_at(settings, "cloudctl-libvirt-1") is not None  # idempotent
    assert point_elb_at(settings, "cloudctl-libvirt-2") is not None  # the namespace moved
    assert stored() == {"vpc_netns": "cloudctl-libvirt-2"}
    assert point_elb_at(settings, "") is None  # guests in the root namespace: nothing named
    assert stored() == {"vpc_netns": "cloudctl-libvirt-2"}

    # an operator's EDGE data plane is theirs: `up` leaves it as set
    import asyncio

    from cloudctl.db.engine import create_engine, session_factory
    from cloudctl.properties.models import PropertyValue

    own = {"uplink_netns": "edge", "uplink_bridge": "br0", "addresses": "10.9.0.0/24",
           "vpc_netns": "mine"}

    async def set_own() -> None:
        engine = create_engine(settings.database_url)
        async with session_factory(engine)() as session, session.begin():
            row = await session.get(PropertyValue, DATAPLANE.name)
            assert row is not None
            row.value = json.dumps(own)
        await engine.dispose()

    asyncio.run(set_own())
    assert point_elb_at(settings, "cloudctl-libvirt-3") is None
    assert stored() == own
