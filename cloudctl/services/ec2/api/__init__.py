"""EC2's public API: the typed functions other services call (never EC2's tables),
from the modules of this package by domain.

Every function acts as ``caller`` (``cloudctl.server.internal.Caller``): the call is
authorised as that principal exactly as the same API request would be, and answers the
operation's ``AwsError`` on failure. Results are plain typed values.

- security groups: ``create_security_group``, ``create_security_groups`` (many in one
  transaction), ``security_group``, ``delete_security_group``, ``delete_security_groups``
  (many in one transaction),
  ``authorize_ingress``/``authorize_egress``, ``revoke_ingress``/``revoke_egress``;
- key pairs: ``create_key_pair``, ``import_key_pair``, ``key_pair``, ``delete_key_pair``;
- volumes: ``create_volume``, ``volume``, ``delete_volume``, ``attach_volume``,
  ``detach_volume``, ``create_snapshot``;
- addresses: ``allocate_address``, ``release_address``, ``associate_address``,
  ``disassociate_address``;
- instances: ``run_instance``, ``instance``, ``terminate_instance``; ``watch_states``: a
  callback at each instance or volume state change this process makes (``running``,
  ``available``...);
- VPC networking (``vpc_*``): ``create_vpc``, ``vpc_defaults``, ``create_subnet``,
  ``subnet``, ``create_internet_gateway``, ``attach_internet_gateway``,
  ``detach_internet_gateway``, ``create_route_table``, ``create_route``,
  ``delete_route``, ``associate_route_table``, ``disassociate_route_table``,
  ``modify_vpc_attribute``, ``modify_subnet_attribute``, ``create_network_acl``,
  ``create_network_acl_entry``, ``delete_network_acl_entry``, ``replace_subnet_acl``,
  ``create_dhcp_options``, ``associate_dhcp_options``, ``create_nat_gateway``,
  ``nat_gateway``, ``create_network_interface``, ``network_interface`` and
  ``delete_vpc_resource`` (any of them by id);
- launch templates: ``create_launch_template``, ``create_launch_template_version``,
  ``set_default_launch_template_version``, ``delete_launch_template``;
- lookups for parameter types: ``existing_ids``, ``zones``;
- ``create_tags``; ``system_tags``: the ``aws:`` tags only a service may set
  (``aws:cloudformation:stack-name``...), written past the user-facing check;
- ``instance_facts(session, account_id, region, ids)``: the account's instances among
  ``ids`` with what a load balancer needs of them (zone, state, addresses); a read in
  the caller's session, not an API call;
- a service's own interfaces in customer subnets (a load balancer's), in the caller's
  session: ``service_subnets``, ``service_groups``, ``security_group_names``,
  ``vpc_default_group``,
  ``service_interfaces``, ``sync_service_interfaces``, then ``vpc_changed``;
- ``register_source_groups(resolver)``: a service's source security groups (a load
  balancer's) usable as the source of EDGE group rules;
- ``default_subnets(cloud, account_id, region, zones)``: the default VPC's subnets of
  those zones in VPC mode (a load balancer given zones lands there, as on AWS).
"""

from __future__ import annotations

from cloudctl.server.internal import Caller
from cloudctl.services.ec2.api.addresses import (
    allocate_address,
    associate_address,
    disassociate_address,
    release_address,
)
from cloudctl.services.ec2.api.groups import (
    authorize_egress,
    authorize_ingress,
    create_security_group,
    create_security_groups,
    delete_security_group,
    delete_security_groups,
    revoke_egress,
    revoke_ingress,
    security_group,
)
from cloudctl.services.ec2.api.instances import (
    InstanceFacts,
    instance,
    instance_facts,
    run_instance,
    terminate_instance,
    watch_states,
)
from cloudctl.services.ec2.api.keypairs import (
    create_key_pair,
    delete_key_pair,
    import_key_pair,
    key_pair,
)
from cloudctl.services.ec2.api.lookups import (
    create_tags,
    existing_ids,
    system_tags,
    zones,
)
from cloudctl.services.ec2.api.service_network import (
    default_subnets,
    register_source_groups,
    security_group_names,
    service_groups,
    service_interfaces,
    service_subnets,
    sync_service_interfaces,
    vpc_changed,
    vpc_default_group,
)
from cloudctl.services.ec2.api.storage import (
    attach_volume,
    create_snapshot,
    create_volume,
    delete_volume,
    detach_volume,
    volume,
)
from cloudctl.services.ec2.api.templates import (
    create_launch_template,
    create_launch_template_version,
    delete_launch_template,
    set_default_launch_template_version,
)
from cloudctl.services.ec2.api.vpc import (
    associate_dhcp_options,
    associate_route_table,
    attach_internet_gateway,
    create_dhcp_options,
    create_internet_gateway,
    create_nat_gateway,
    create_network_acl,
    create_network_acl_entry,
    create_network_interface,
    create_route,
    create_route_table,
    create_subnet,
    create_vpc,
    delete_network_acl_entry,
    delete_route,
    delete_vpc_resource,
    detach_internet_gateway,
    disassociate_route_table,
    modify_subnet_attribute,
    modify_vpc_attribute,
    nat_gateway,
    network_interface,
    replace_subnet_acl,
    subnet,
    vpc_defaults,
)
from cloudctl.services.ec2.network.security_groups import NewGroup
from cloudctl.services.ec2.vpc.service_interfaces import ServiceInterface, SubnetFacts

__all__ = [
    "allocate_address",
    "associate_address",
    "associate_dhcp_options",
    "associate_route_table",
    "attach_internet_gateway",
    "attach_volume",
    "authorize_egress",
    "authorize_ingress",
    "Caller",
    "create_dhcp_options",
    "create_internet_gateway",
    "create_key_pair",
    "create_launch_template",
    "create_launch_template_version",
    "create_nat_gateway",
    "create_network_acl",
    "create_network_acl_entry",
    "create_network_interface",
    "create_route",
    "create_route_table",
    "create_security_group",
    "create_security_groups",
    "create_snapshot",
    "create_subnet",
    "create_tags",
    "create_volume",
    "create_vpc",
    "default_subnets",
    "delete_key_pair",
    "delete_launch_template",
    "delete_network_acl_entry",
    "delete_route",
    "delete_security_group",
    "delete_security_groups",
    "delete_volume",
    "delete_vpc_resource",
    "detach_internet_gateway",
    "detach_volume",
    "disassociate_address",
    "disassociate_route_table",
    "existing_ids",
    "import_key_pair",
    "instance",
    "instance_facts",
    "InstanceFacts",
    "key_pair",
    "modify_subnet_attribute",
    "modify_vpc_attribute",
    "nat_gateway",
    "network_interface",
    "NewGroup",
    "register_source_groups",
    "release_address",
    "replace_subnet_acl",
    "revoke_egress",
    "revoke_ingress",
    "run_instance",
    "security_group",
    "security_group_names",
    "service_groups",
    "service_interfaces",
    "service_subnets",
    "ServiceInterface",
    "set_default_launch_template_version",
    "subnet",
    "SubnetFacts",
    "sync_service_interfaces",
    "system_tags",
    "terminate_instance",
    "volume",
    "vpc_changed",
    "vpc_default_group",
    "vpc_defaults",
    "watch_states",
    "zones",
]
