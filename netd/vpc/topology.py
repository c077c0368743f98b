"""The desired VPC topology as the controller publishes it into ZooKeeper.

Owns: the contract between the cloud controller (writer) and netd on every host
(readers): the znode layout under a versioned root, one typed, JSON-serialised
object per znode, references between objects by id, a global version counter,
a writer that publishes a set of changes atomically (one multi-op transaction
that also bumps the version, optimistic on the version znode), a reader that
loads a consistent snapshot of the whole topology, and the per-host status
nodes where each host reports the version it applied.

Layout (MidoNet's lesson: typed objects under a versioned root)::

    /cloud/vpc/v1/version                 b"<int>"   bumped by every publish
    /cloud/vpc/v1/<kind>/<id>             JSON of one object (kinds: KINDS)
    /cloud/vpc/v1/hosts/<host>            JSON HostStatus, written by that host

References: `Subnet.vpc_id`, `Subnet.route_table_id`, `Subnet.network_acl_id`,
`Vpc.dhcp_options_id`, `Eni.subnet_id`, `Eni.group_ids`, `Route.target_id`,
`SgRule.groups`, `Peering.requester_vpc_id`/`accepter_vpc_id`... all by id.
Readers tolerate dangling references (an object whose parent is missing is
not realised) so a writer may publish in any order.

Never imports `cloudctl`: the controller imports this module.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

ROOT = "/cloud/vpc/v1"
VERSION_PATH = f"{ROOT}/version"
HOSTS_PATH = f"{ROOT}/hosts"

# Route target kinds.
TARGET_LOCAL = "local"
TARGET_IGW = "igw"
TARGET_NAT = "nat"
TARGET_ENI = "eni"
TARGET_INSTANCE = "instance"
TARGET_PCX = "pcx"
TARGET_KINDS = (TARGET_LOCAL, TARGET_IGW, TARGET_NAT, TARGET_ENI, TARGET_INSTANCE, TARGET_PCX)

PROTO_ALL = -1
PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17


class TopologyError(ValueError):
    """A znode does not hold a valid object of its kind."""


def _tuple_of_str(v: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in (v or ()))


@dataclass(frozen=True)
class Obj:
    """Base of every stored object: `id` and the kind's znode directory."""

    kind: ClassVar[str] = ""
    id: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = _encode(self)
        return out

    @classmethod
    def from_json(cls: type[ObjT], data: dict[str, Any]) -> ObjT:
        out: ObjT = _decode(cls, data)
        return out


ObjT = TypeVar("ObjT", bound=Obj)


@dataclass(frozen=True)
class DhcpOptions(Obj):
    """A DHCP option set; `domain_name_servers` may hold `AmazonProvidedDNS`."""

    kind: ClassVar[str] = "dhcp_options"
    domain_name: str | None = None
    domain_name_servers: tuple[str, ...] = ("AmazonProvidedDNS",)
    ntp_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vpc(Obj):
    """A VPC: its VXLAN network identifier (unique per cloud) and CIDR blocks."""

    kind: ClassVar[str] = "vpcs"
    vni: int = 0
    cidrs: tuple[str, ...] = ()
    account_id: str = ""
    dhcp_options_id: str | None = None
    enable_dns_support: bool = True
    enable_dns_hostnames: bool = False


@dataclass(frozen=True)
class Subnet(Obj):
    """A subnet: gateway is the first host address (.1), DNS the second (.2)."""

    kind: ClassVar[str] = "subnets"
    vpc_id: str = ""
    cidr: str = ""
    zone: str = ""
    route_table_id: str | None = None
    network_acl_id: str | None = None


@dataclass(frozen=True)
class Route:
    """One route: `target_kind` in TARGET_KINDS, `target_id` the referenced object.

    `local` has no target id; `eni`/`instance` name an ENI id (the controller
    resolves an instance target to its primary ENI); `pcx` a peering id.
    """

    destination: str
    target_kind: str = TARGET_LOCAL
    target_id: str | None = None


@dataclass(frozen=True)
class RouteTable(Obj):
    kind: ClassVar[str] = "route_tables"
    vpc_id: str = ""
    routes: tuple[Route, ...] = ()


@dataclass(frozen=True)
class PublicMapping:
    """A 1:1 NAT of a public (or elastic) IP to a private IP of an ENI."""

    public_ip: str
    private_ip: str
    eni_id: str | None = None


@dataclass(frozen=True)
class InternetGateway(Obj):
    """An IGW; `vpc_id` None when detached. `host` is the gateway host realising it.

    `mappings` lists public/elastic IPs of ENIs in the attached VPC; NAT gateways'
    elastic IPs are mapped from `NatGateway.public_ip` and need not be listed.
    """

    kind: ClassVar[str] = "internet_gateways"
    vpc_id: str | None = None
    host: str = ""
    mappings: tuple[PublicMapping, ...] = ()


@dataclass(frozen=True)
class NatGateway(Obj):
    """A NAT gateway: an address in `subnet_id` that SNATs to itself, on `host`."""

    kind: ClassVar[str] = "nat_gateways"
    vpc_id: str = ""
    subnet_id: str = ""
    private_ip: str = ""
    public_ip: str | None = None
    host: str = ""
    mac: str = ""


@dataclass(frozen=True)
class AclEntry:
    """A network ACL entry; lowest `number` first, first match wins."""

    number: int
    action: str = "allow"  # allow | deny
    protocol: int = PROTO_ALL
    cidr: str = "0.0.0.0/0"
    from_port: int | None = None
    to_port: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None


@dataclass(frozen=True)
class NetworkAcl(Obj):
    """Stateless; anything no entry matches is denied (the implicit `*` rule)."""

    kind: ClassVar[str] = "network_acls"
    vpc_id: str = ""
    ingress: tuple[AclEntry, ...] = ()
    egress: tuple[AclEntry, ...] = ()


@dataclass(frozen=True)
class SgRule:
    """A security group rule; peers are `cidrs` or members (ENIs) of `groups`."""

    protocol: int = PROTO_ALL
    from_port: int | None = None
    to_port: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    cidrs: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecurityGroup(Obj):
    kind: ClassVar[str] = "security_groups"
    vpc_id: str = ""
    ingress: tuple[SgRule, ...] = ()
    egress: tuple[SgRule, ...] = ()


@dataclass(frozen=True)
class Eni(Obj):
    """A network interface. `host` is where its instance runs (None: not attached).

    `private_ips[0]` is the primary address. `instance_id` identifies the
    instance to the metadata service.
    """

    kind: ClassVar[str] = "enis"
    vpc_id: str = ""
    subnet_id: str = ""
    mac: str = ""
    private_ips: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    source_dest_check: bool = True
    host: str | None = None
    instance_id: str | None = None
    device_index: int = 0


@dataclass(frozen=True)
class Peering(Obj):
    kind: ClassVar[str] = "peerings"
    requester_vpc_id: str = ""
    accepter_vpc_id: str = ""
    active: bool = False


KINDS: dict[str, type[Obj]] = {
    c.kind: c
    for c in (DhcpOptions, Vpc, Subnet, RouteTable, InternetGateway, NatGateway,
              NetworkAcl, SecurityGroup, Eni, Peering)
}

_NESTED: dict[str, type[Any]] = {
    "routes": Route, "mappings": PublicMapping, "ingress": AclEntry, "egress": AclEntry,
}


def _encode(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [_encode(x) for x in obj]
    return obj


def _decode(cls: type[Any], data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise TopologyError(f"{cls.__name__}: expected an object")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        if f.name in ("ingress", "egress"):
            inner: type[Any] = SgRule if cls is SecurityGroup else AclEntry
            kwargs[f.name] = tuple(_decode(inner, x) for x in v)
        elif f.name in _NESTED:
            kwargs[f.name] = tuple(_decode(_NESTED[f.name], x) for x in v)
        elif isinstance(v, list):
            kwargs[f.name] = _tuple_of_str(v)
        else:
            kwargs[f.name] = v
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise TopologyError(f"{cls.__name__}: {exc}") from exc


def dumps(obj: Obj) -> bytes:
    return json.dumps(obj.to_json(), sort_keys=True, separators=(",", ":")).encode()


def loads(kind: str, raw: bytes) -> Obj:
    try:
        data = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TopologyError(f"{kind}: not JSON: {exc}") from exc
    return KINDS[kind].from_json(data)


def path_of(kind: str, obj_id: str) -> str:
    if kind not in KINDS:
        raise TopologyError(f"unknown kind {kind!r}")
    if not obj_id or "/" in obj_id:
        raise TopologyError(f"bad id {obj_id!r}")
    return f"{ROOT}/{kind}/{obj_id}"


@dataclass
class Topology:
    """A consistent snapshot: every object by kind and id, at `version`."""

    version: int = 0
    objects: dict[str, dict[str, Obj]] = field(
        default_factory=lambda: {k: {} for k in KINDS})

    def of(self, cls: type[ObjT]) -> dict[str, ObjT]:
        return self.objects[cls.kind]  # type: ignore[return-value]

    def get(self, cls: type[ObjT], obj_id: str | None) -> ObjT | None:
        if obj_id is None:
            return None
        return self.of(cls).get(obj_id)

    def put(self, obj: Obj) -> None:
        self.objects[obj.kind][obj.id] = obj

    def delete(self, kind: str, obj_id: str) -> None:
        self.objects[kind].pop(obj_id, None)

    @property
    def vpcs(self) -> dict[str, Vpc]:
        return self.of(Vpc)

    @property
    def subnets(self) -> dict[str, Subnet]:
        return self.of(Subnet)

    @property
    def enis(self) -> dict[str, Eni]:
        return self.of(Eni)


@dataclass(frozen=True)
class HostStatus:
    """What a host reports under `hosts/<host>`: the version it applied and how."""

    host: str
    version: int
    underlay: str = ""
    applied_at: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _encode(self)  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostStatus:
        return _decode(cls, data)  # type: ignore[no-any-return]


def ensure_layout(client: Any) -> None:
    """Create the root, kind directories, hosts directory and version node."""
    for kind in KINDS:
        client.ensure_path(f"{ROOT}/{kind}")
    client.ensure_path(HOSTS_PATH)
    if client.exists(VERSION_PATH) is None:
        try:
            client.create(VERSION_PATH, b"0")
        except Exception as exc:  # NodeExistsError: another writer won the race
            if type(exc).__name__ != "NodeExistsError":
                raise


class PublishConflict(RuntimeError):
    """Another writer changed the topology between read and commit too often."""


class TopologyWriter:
    """Publishes changes atomically: puts, deletes and the version bump in one multi-op."""

    def __init__(self, client: Any, retries: int = 20) -> None:
        self.client = client
        self.retries = retries
        ensure_layout(client)

    def publish(self, puts: list[Obj] | tuple[Obj, ...] = (),
                deletes: list[tuple[str, str]] | tuple[tuple[str, str], ...] = ()) -> int:
        """Write `puts` (create or replace) and remove `deletes` ((kind, id));
        return the new version. Deleting an absent object is not an error; when
        one object appears twice in `puts`, the last one wins."""
        puts = list({(o.kind, o.id): o for o in puts}.values())
        deletes = list(dict.fromkeys(deletes))
        for _attempt in range(self.retries):
            raw, stat = self.client.get(VERSION_PATH)
            current = int(raw.decode() or "0")
            txn = self.client.transaction()
            txn.check(VERSION_PATH, stat.version)
            for obj in puts:
                path = path_of(obj.kind, obj.id)
                if self.client.exists(path) is None:
                    txn.create(path, dumps(obj))
                else:
                    txn.set_data(path, dumps(obj))
            for kind, obj_id in deletes:
                path = path_of(kind, obj_id)
                if self.client.exists(path) is not None:
                    txn.delete(path)
            txn.set_data(VERSION_PATH, str(current + 1).encode(), version=stat.version)
            results = txn.commit()
            if not any(isinstance(r, Exception) for r in results):
                return current + 1
        raise PublishConflict("topology publish kept conflicting with other writers")

    def replace_all(self, topology: Topology) -> int:
        """Make the stored topology equal to `topology` (puts what differs, deletes
        what is not in it); the controller's full resync."""
        current = TopologyReader(self.client).load()
        puts: list[Obj] = []
        deletes: list[tuple[str, str]] = []
        for kind in KINDS:
            want = topology.objects[kind]
            have = current.objects[kind]
            puts += [o for i, o in want.items() if have.get(i) != o]
            deletes += [(kind, i) for i in have if i not in want]
        return self.publish(puts, deletes)


class TopologyReader:
    """Loads consistent snapshots; reads and writes host status nodes."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def version(self) -> int:
        raw, _ = self.client.get(VERSION_PATH)
        return int(raw.decode() or "0")

    def load(self) -> Topology:
        """The whole topology; re-read when a publish raced the read."""
        ensure_layout(self.client)
        while True:
            before = self.version()
            topo = Topology(version=before)
            pending: list[tuple[str, Any]] = []
            for kind in KINDS:
                for child in self.client.get_children(f"{ROOT}/{kind}"):
                    pending.append((kind, self.client.get_async(f"{ROOT}/{kind}/{child}")))
            for kind, result in pending:
                try:
                    raw, _ = result.get()
                except Exception as exc:  # NoNodeError: deleted meanwhile; re-read
                    if type(exc).__name__ != "NoNodeError":
                        raise
                    continue
                topo.put(loads(kind, raw))
            if self.version() == before:
                return topo

    def report(self, status: HostStatus) -> None:
        path = f"{HOSTS_PATH}/{status.host}"
        data = json.dumps(status.to_json(), sort_keys=True).encode()
        if self.client.exists(path) is None:
            try:
                self.client.create(path, data, makepath=True)
                return
            except Exception as exc:
                if type(exc).__name__ != "NodeExistsError":
                    raise
        self.client.set(path, data)

    def hosts(self) -> dict[str, HostStatus]:
        out: dict[str, HostStatus] = {}
        if self.client.exists(HOSTS_PATH) is None:
            return out
        for name in self.client.get_children(HOSTS_PATH):
            status = self.host(name)
            if status is not None:
                out[name] = status
        return out

    def host(self, name: str) -> HostStatus | None:
        """One host's status (one read), None when it reported none."""
        try:
            raw, _ = self.client.get(f"{HOSTS_PATH}/{name}")
        except Exception as exc:
            if type(exc).__name__ != "NoNodeError":
                raise
            return None
        return HostStatus.from_json(json.loads(raw.decode()))

    def wait_applied(self, version: int, hosts: list[str], timeout: float = 10.0) -> bool:
        """True once every host in `hosts` reported a version >= `version`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.hosts()
            if all(h in seen and seen[h].version >= version and not seen[h].error
                   for h in hosts):
                return True
            time.sleep(0.01)
        return False
