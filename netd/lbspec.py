"""What one load balancer's data plane must be, and its haproxy configuration.

Owns: the typed, JSON-serialisable description of a load balancer as netd runs it
(its address in its own namespace, the uplink it is attached to, listeners with TLS
certificates, stickiness and proxy protocol, the back-ends, the health check and the
timeouts) and `render`, the pure function from that description to haproxy.cfg.

One health check an instance (AWS): servers of the `health` backend are checked; the
listeners' servers `track` them. New servers are rendered `disabled`; the plane enables
them forced down, so they serve only after `rise` (HealthyThreshold) passes.
Never touches the kernel; never imports `cloudctl`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

_ID = re.compile(r"^[A-Za-z0-9]{1,12}\Z")
_SERVER = re.compile(r"^[A-Za-z0-9_.\-]{1,64}\Z")
_COOKIE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}\Z")
_PATH = re.compile(r"^/[A-Za-z0-9_.~!$&'()*+,;=:@%/\-?]*\Z")


# raw access log lines (turned into ELB's format by the cloud): kind, epoch seconds and
# microseconds, client, server, request/response/data times (ms), status, server name,
# bytes in and out, then (HTTP) method, URI, version, Host and User-Agent (last: spaces)
HTTP_LOG = ("H %[date] %[date_us] %ci:%cp %si:%sp %TR %Tr %Td %ST %s %U %B %HM %HU %HV "
            "%[capture.req.hdr(0)] %[capture.req.hdr(1)]")
TCP_LOG = "T %[date] %[date_us] %ci:%cp %si:%sp %Tw %Tc %Td - %s %U %B"


@dataclass(frozen=True)
class Listener:
    protocol: str  # HTTP HTTPS TCP SSL
    port: int
    instance_protocol: str
    instance_port: int
    certificate: str | None = None  # PEM: certificate, chain, key (HTTPS/SSL)
    lb_cookie: int | None = None  # LB cookie stickiness: expiry seconds (0: session)
    app_cookie: str | None = None  # app cookie stickiness: the application's cookie
    proxy_protocol: bool = False
    # SSL negotiation (HTTPS/SSL): ELB protocol names ("TLSv1", "TLSv1.1", "TLSv1.2") and
    # OpenSSL cipher names allowed; empty: haproxy's defaults
    tls_protocols: tuple[str, ...] = ()
    tls_ciphers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Backend:
    instance_id: str
    address: str


@dataclass(frozen=True)
class HealthCheck:
    target: str = "TCP:80"  # PROTOCOL:PORT[/PATH]
    interval: int = 30
    timeout: int = 5
    unhealthy: int = 2
    healthy: int = 10


def uplink_mac(prefix: str, address: str) -> str:
    """The MAC of a load balancer's ``eth0``: the network's MAC prefix and its address's
    octets, as an instance NIC's (unique as the address is). The network view reports
    it for the uplink port, so EDGE's bridge anti-spoofing admits that port for this
    MAC and the load balancer's address only."""
    octets = ":".join(f"{int(o):02x}" for o in address.split("/")[0].split("."))
    return f"{prefix}:{octets}"


def uplink_interface(lb_id: str) -> str:
    """The name of a load balancer's uplink veth on the uplink bridge."""
    return f"lb{lb_id}"[:15]


@dataclass(frozen=True)
class LbSpec:
    lb_id: str
    address: str  # "10.0.0.5/24" inside the load balancer's namespace
    uplink_netns: str  # where the uplink bridge lives
    uplink_bridge: str
    gateway: str | None = None
    public_address: str | None = None  # "198.51.100.7/24" on eth1 (internet-facing)
    mac: str | None = None  # eth0's MAC (``uplink_mac``) when the view polices the uplink
    public_netns: str | None = None
    public_bridge: str | None = None
    public_gateway: str | None = None
    listeners: tuple[Listener, ...] = ()
    backends: tuple[Backend, ...] = ()
    health: HealthCheck = field(default_factory=HealthCheck)
    drain_timeout: int = 0  # seconds; 0: connection draining disabled
    idle_timeout: int = 60
    access_log: bool = False
    # the uplink veth's name on the uplink bridge; empty: ``uplink_interface(lb_id)``. In a
    # VPC the node is an interface's (ENI's) endpoint on that interface's guest bridge,
    # named as a hypervisor's tap of it is (``netd.vpc.names.guest_tap_name``)
    uplink_name: str = ""

    @property
    def host_interface(self) -> str:
        return self.uplink_name or uplink_interface(self.lb_id)

    def check(self) -> None:
        if not _ID.match(self.lb_id):
            raise ValueError(f"bad load balancer id {self.lb_id!r}")
        for b in self.backends:
            if not _SERVER.match(b.instance_id):
                raise ValueError(f"bad back-end name {b.instance_id!r}")
        for lst in self.listeners:
            if lst.app_cookie is not None and not _COOKIE.match(lst.app_cookie):
                raise ValueError(f"bad cookie name {lst.app_cookie!r}")
        proto, _, rest = self.health.target.partition(":")
        port, slash, path = rest.partition("/")
        if proto not in ("HTTP", "HTTPS", "TCP", "SSL") or not port.isdigit():
            raise ValueError(f"bad health check target {self.health.target!r}")
        if slash and not _PATH.match("/" + path):
            raise ValueError(f"bad health check path {path!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LbSpec:
        return cls(
            lb_id=str(d["lb_id"]), address=str(d["address"]),
            uplink_netns=str(d["uplink_netns"]), uplink_bridge=str(d["uplink_bridge"]),
            gateway=d.get("gateway"), public_address=d.get("public_address"),
            public_netns=d.get("public_netns"), public_bridge=d.get("public_bridge"),
            public_gateway=d.get("public_gateway"), mac=d.get("mac"),
            listeners=tuple(Listener(**{**x, "tls_protocols": tuple(x.get("tls_protocols", ())),
                                        "tls_ciphers": tuple(x.get("tls_ciphers", ()))})
                            for x in d.get("listeners", [])),
            backends=tuple(Backend(**x) for x in d.get("backends", [])),
            health=HealthCheck(**d.get("health", {})),
            drain_timeout=int(d.get("drain_timeout", 0)),
            idle_timeout=int(d.get("idle_timeout", 60)),
            access_log=bool(d.get("access_log", False)))


@dataclass(frozen=True)
class Paths:
    """Where a load balancer's files live (its directory under netd's state dir)."""

    root: str

    def of(self, name: str) -> str:
        return f"{self.root}/{name}"


def _health_lines(spec: LbSpec, known: set[str]) -> list[str]:
    proto, _, rest = spec.health.target.partition(":")
    port, slash, path = rest.partition("/")
    hc = spec.health
    out = ["backend health", "    mode tcp" if proto in ("TCP", "SSL") else "    mode http",
           f"    timeout check {hc.timeout}s", "    timeout connect 5s",
           "    timeout server 30s"]
    if proto in ("HTTP", "HTTPS"):
        out += [f"    option httpchk GET /{path if slash else ''}",
                "    http-check expect status 200"]
    ssl = " check-ssl verify none" if proto in ("HTTPS", "SSL") else ""
    for b in spec.backends:
        disabled = "" if b.instance_id in known else " disabled"
        out.append(f"    server {b.instance_id} {b.address}:{port} check port {port}"
                   f" inter {hc.interval}s fastinter {hc.interval}s"
                   f" downinter {hc.interval}s rise {hc.healthy} fall {hc.unhealthy}"
                   f"{ssl}{disabled}")
    return out


_TLS_VERSIONS = {"TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2"}
_CIPHER = re.compile(r"^[A-Z0-9\-]{1,64}\Z")


def tls_options(lst: Listener) -> str:
    """The bind options of a listener's SSL negotiation policy: the protocol range
    (haproxy takes a range: a gap inside it is not expressible) and the ciphers, in
    the server's order. TLS 1.0/1.1 need OpenSSL's security level 0 to be offered."""
    out = ""
    versions = [v for k, v in _TLS_VERSIONS.items() if k in lst.tls_protocols]
    if versions:
        out += f" ssl-min-ver {versions[0]} ssl-max-ver {versions[-1]}"
    ciphers = [c for c in lst.tls_ciphers if _CIPHER.match(c)]
    if ciphers:
        legacy = versions[:1] in (["TLSv1.0"], ["TLSv1.1"])
        out += " ciphers " + ":".join(ciphers) + (":@SECLEVEL=0" if legacy else "")
    return out


def _listener_lines(spec: LbSpec, lst: Listener, paths: Paths) -> list[str]:
    http = lst.protocol in ("HTTP", "HTTPS")
    name = f"l{lst.port}"
    tls = (f" ssl crt {paths.of(f'cert-{lst.port}.pem')}{tls_options(lst)}"
           if lst.certificate else "")
    out = [f"frontend {name}", f"    bind :{lst.port}{tls}",
           f"    mode {'http' if http else 'tcp'}", f"    default_backend be_{lst.port}"]
    if spec.access_log:
        out += ["    log global", f"    log-format \"{HTTP_LOG if http else TCP_LOG}\""]
        if http:
            out += ["    capture request header Host len 256",
                    "    capture request header User-Agent len 256"]
    if http:
        scheme = "https" if lst.protocol == "HTTPS" else "http"
        out += ["    option forwardfor",
                f"    http-request set-header X-Forwarded-Proto {scheme}",
                f"    http-request set-header X-Forwarded-Port {lst.port}"]
    out += [f"backend be_{lst.port}", f"    mode {'http' if http else 'tcp'}",
            "    balance roundrobin", "    timeout connect 5s"]
    if lst.lb_cookie is not None:
        life = f" maxlife {lst.lb_cookie}s" if lst.lb_cookie else ""
        out.append(f"    cookie AWSELB insert indirect nocache{life}")
    elif lst.app_cookie is not None:
        out.append(f"    cookie {lst.app_cookie} prefix nocache")
    extra = " send-proxy" if lst.proxy_protocol else ""
    if lst.instance_protocol in ("HTTPS", "SSL"):
        extra += " ssl verify none"
    for b in spec.backends:
        cookie = f" cookie {b.instance_id}" if (lst.lb_cookie is not None
                                                or lst.app_cookie is not None) else ""
        out.append(f"    server {b.instance_id} {b.address}:{lst.instance_port}"
                   f" track health/{b.instance_id}{cookie}{extra}")
    return out


def render(spec: LbSpec, paths: Paths, known: set[str]) -> str:
    """haproxy.cfg for ``spec``; ``known``: back-ends the running haproxy already has
    (their health is carried over a reload; the others start down)."""
    spec.check()
    hard_stop = spec.drain_timeout or spec.idle_timeout
    lines = ["global", f"    stats socket {paths.of('stats.sock')} mode 600 level admin",
             f"    server-state-file {paths.of('servers.state')}",
             f"    hard-stop-after {hard_stop}s", "    maxconn 4096", "    nbthread 1"]
    if spec.access_log:
        lines.append(f"    log unix@{paths.of('log.sock')} len 8192 format raw local0 info")
    lines += ["defaults", "    load-server-state-from-file global",
              f"    timeout client {spec.idle_timeout}s",
              f"    timeout server {spec.idle_timeout}s", "    timeout connect 5s",
              "    option dontlognull", "    option http-keep-alive", "    http-reuse always"]
    lines += _health_lines(spec, known)
    for lst in spec.listeners:
        lines += _listener_lines(spec, lst, paths)
    return "\n".join(lines) + "\n"
