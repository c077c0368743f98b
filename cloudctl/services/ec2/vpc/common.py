"""What every VPC provider shares: lookups with the AWS NotFound codes, CIDR checks,
address allocation in a subnet, the topology version, Describe plumbing and the mode.

The topology version (``ec2_vpc_state``) is bumped in the transaction of every change;
after commit the provider calls ``changed(cloud)`` to wake the publisher and the NAT
controller at once, in this process or, from an API worker that runs no controllers,
in the one that does (their timers find the change anyway: when idle, a minute later).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import ipaddress
import secrets
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudctl.core import wakes
from cloudctl.db.base import RegionalMixin
from cloudctl.errors import AwsError
from cloudctl.server.runtime import RuntimeKey
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.filters import apply_filters
from cloudctl.services.ec2.shared.resources import ResourceType
from cloudctl.services.ec2.vpc.models import PrivateIpRow, SubnetRow, VpcStateRow
from cloudctl.services.network import config as net_config
from cloudctl.services.paging import PageRequest, encode_cursor, paginate

if TYPE_CHECKING:
    from cloudctl.core.reconcile import Reconciler
    from cloudctl.server.cloud import Cloud

T = TypeVar("T")
R = TypeVar("R", bound=RegionalMixin)
RESERVED_PER_SUBNET = 5  # network, router, DNS, future use, broadcast
WAKERS = RuntimeKey[list["Reconciler"]]("vpc.wakers")
# the controllers ``changed`` resyncs (their ``name``s: nat.py, publisher.py)
WOKEN_KINDS = ("vpc-nat-controller", "vpc-topology-publisher")
VPC_MODES = ("VPC", "VPCMIDO")


def network_mode(cloud: Cloud) -> str:
    """``VPC`` or ``EDGE``: the cloud's network mode (``VPCMIDO`` reads as ``VPC``)."""
    value = cloud.properties.get(net_config.NETWORK_CONFIGURATION)
    mode = str((value or {}).get("Mode", "EDGE")).upper()
    return "VPC" if mode in VPC_MODES else "EDGE"


async def bump(session: AsyncSession) -> None:
    """Record a change of the topology in the caller's transaction."""
    done = await session.execute(update(VpcStateRow).where(VpcStateRow.id == 1).values(
        version=VpcStateRow.version + 1))
    if not getattr(done, "rowcount", 0):
        session.add(VpcStateRow(id=1, version=1, published=0))


async def version(session: AsyncSession) -> int:
    row = await session.get(VpcStateRow, 1)
    return int(row.version) if row is not None else 0


def changed(cloud: Cloud) -> None:
    """Wake the VPC controllers after a committed change: this process's, or (an API
    worker that runs none) the controller process's."""
    controllers = cloud.runtime.get(WAKERS) or []
    for controller in controllers:
        controller.resync_now()
    if not controllers:
        for kind in WOKEN_KINDS:
            wakes.forward(kind, None)


def not_found(rtype: ResourceType, value: str, what: str | None = None) -> AwsError:
    label = what or rtype.kind.replace("-", " ")
    return AwsError(f"The {label} ID '{value}' does not exist",
                    code=rtype.not_found or "InvalidID")


async def owned(session: AsyncSession, model: type[R], rtype: ResourceType, account: str,
                region: str, value: Any) -> R:
    """The account's row ``value`` of ``model`` (its primary key), else the AWS error."""
    rid = rtype.check(value)
    row = await session.get(model, rid)
    if row is None or row.account_id != account or row.region != region:
        raise not_found(rtype, rid)
    return row


def exists_check(model: type[Any], column: Any) -> tags.ExistsCheck:
    """A ``tags.register_resource`` check for a regional table keyed by ``column``."""
    async def exists(session: AsyncSession, account: str, region: str,
                     wanted: list[str]) -> set[str]:
        rows = await session.execute(select(column).where(
            column.in_(wanted), model.account_id == account, model.region == region))
        return {r[0] for r in rows}
    return exists


def required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise AwsError(f"The request must contain the parameter {name}",
                       code="MissingParameter")
    return value


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def parse_cidr(value: Any, *, low: int = 16, high: int = 28,
               range_code: str = "InvalidVpc.Range") -> ipaddress.IPv4Network:
    """An IPv4 CIDR block with a prefix in ``[low, high]`` (host bits must be zero)."""
    text = str(value or "")
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        raise AwsError(f"Value ({text}) for parameter cidrBlock is invalid. This is not a "
                       "valid CIDR block.", code="InvalidParameterValue") from None
    if not low <= net.prefixlen <= high:
        raise AwsError(f"The CIDR '{text}' is invalid.", code=range_code)
    return net


def new_mac() -> str:
    return "02:" + ":".join(f"{secrets.randbelow(256):02x}" for _ in range(5))


def host_range(cidr: str) -> tuple[int, int]:
    """The first and last usable address (as integers) of a subnet: AWS reserves the
    network address, the next three and the broadcast address."""
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address) + 4, int(net.broadcast_address) - 1


def usable_count(cidr: str) -> int:
    """Addresses of a subnet less the five reserved (from the prefix length alone)."""
    return (1 << (32 - int(cidr.rsplit("/", 1)[1]))) - RESERVED_PER_SUBNET


async def used_ips(session: AsyncSession, subnet_id: str) -> set[str]:
    rows = await session.execute(select(PrivateIpRow.private_ip).where(
        PrivateIpRow.subnet_id == subnet_id))
    return {r[0] for r in rows}


async def used_counts(session: AsyncSession, subnet_ids: Iterable[str]) -> dict[str, int]:
    wanted = list(subnet_ids)
    if not wanted:
        return {}
    query = select(PrivateIpRow.subnet_id, func.count()).group_by(PrivateIpRow.subnet_id)
    if len(wanted) <= 500:  # else count every subnet's: cheaper than a long IN list
        query = query.where(PrivateIpRow.subnet_id.in_(wanted))
    return {r[0]: int(r[1]) for r in await session.execute(query)}


async def allocate_ips(session: AsyncSession, subnet: SubnetRow, count: int,
                       wanted: Sequence[str] = ()) -> list[str]:
    """``wanted`` (checked: in the subnet, not reserved, free) then ``count`` more free
    addresses, lowest first."""
    first, last = host_range(subnet.cidr)
    taken = await used_ips(session, subnet.subnet_id)
    out: list[str] = []
    for ip in wanted:
        try:
            number = int(ipaddress.IPv4Address(ip))
        except ValueError:
            raise AwsError(f"Value ({ip}) for parameter privateIpAddress is invalid.",
                           code="InvalidParameterValue") from None
        if not first <= number <= last:
            raise AwsError(f"Address {ip} does not fall within the subnet's address range",
                           code="InvalidParameterValue")
        if ip in taken or ip in out:
            raise AwsError(f"The specified address {ip} is already in use.",
                           code="InvalidIPAddress.InUse")
        out.append(ip)
    need = count
    number = first
    while need > 0 and number <= last:
        ip = str(ipaddress.IPv4Address(number))
        if ip not in taken and ip not in out:
            out.append(ip)
            need -= 1
        number += 1
    if need > 0:
        raise AwsError("There are not enough free addresses in subnet "
                       f"'{subnet.subnet_id}' to satisfy the requested number of instances.",
                       code="InsufficientFreeAddressesInSubnet")
    return out


def describe(operation: str, params: dict[str, Any], rows: list[T],
             extractors: dict[str, Callable[[T], Iterable[str]]],
             tag_map: dict[str, tags.Tags], key: Callable[[T], str],
             ids_param: str | None = None, rtype: ResourceType | None = None,
             ) -> tuple[list[T], str | None]:
    """Ids asked for (each must exist), filters, then one page."""
    wanted = list(params.get(ids_param) or []) if ids_param else []
    if wanted and rtype is not None:
        known = {key(r) for r in rows}
        for value in wanted:
            if value not in known:
                rtype.check(value)
                raise not_found(rtype, value)
        rows = [r for r in rows if key(r) in wanted]
    rows = apply_filters(rows, params.get("Filters"), {
        **extractors, **tags.filter_extractors(lambda r: tag_map.get(key(r), []))})
    return paginate(operation, params, rows, key)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No garbage collection inside a synchronous stretch that allocates thousands of
    containers (shaping a large Describe answer)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@functools.lru_cache(maxsize=64)
def _record(fields: tuple[str, ...]) -> Any:
    return namedtuple("Record", fields, rename=True)  # type: ignore[misc]


def plain(result: Any) -> list[Any]:
    """A query's rows as named tuples. A Describe reads each row's fields many times
    while shaping 1,000s of objects: an attribute of SQLAlchemy's ``Row`` costs
    microseconds, a named tuple's tens of nanoseconds (converting costs one access)."""
    make = _record(tuple(result.keys()))._make
    with gc_paused():
        return [make(r) for r in result]


async def sql_page(session: AsyncSession, operation: str, params: dict[str, Any], query: Any,
                   key: Any, columns: dict[str, Any]) -> tuple[list[Any], str | None] | None:
    """One page straight from SQL when every filter is an exact match on a column of
    ``columns`` and no ids are named: the filters, the keyset cursor and the limit go into
    the query (page N costs what page 1 does, whatever the account holds). None: the
    caller filters and pages in Python (``describe``). Tokens are ``paginate``'s."""
    filters = params.get("Filters") or []
    if any(k.endswith("Ids") and params.get(k) for k in params):
        return None
    for flt in filters:
        values = [str(v) for v in flt.get("Values") or []]
        column = columns.get(str(flt.get("Name")))
        if column is None or any("*" in v or "?" in v for v in values):
            return None
        query = query.where(column.in_(values))
    request = PageRequest.of(operation, params)
    if request.cursor is not None:
        if not isinstance(request.cursor, str):
            raise AwsError(request.bounds.token_message.format(token=request.token),
                           code=request.bounds.token_code)
        query = query.where(key > request.cursor)
    query = query.order_by(key)
    if request.limit is not None:
        query = query.limit(request.limit + 1)
    rows = plain(await session.execute(query))
    if request.limit is None or len(rows) <= request.limit:
        return rows, None
    page = rows[:request.limit]
    return page, encode_cursor(getattr(page[-1], key.key), request.scope)


def filters_need(params: dict[str, Any], prefixes: tuple[str, ...]) -> bool:
    """Whether a Describe call's filters read children (routes, associations, addresses):
    when not, a provider loads the children of the page only, after paging."""
    return any(str(f.get("Name") or "").startswith(prefixes)
               for f in params.get("Filters") or [])


def paged(result: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        result["NextToken"] = token
    return result


def flag(value: bool) -> list[str]:
    return ["true" if value else "false"]
