"""The load balancer data plane with real haproxy: netd's `LbPlane` runs one haproxy in
its own namespace on a lab bridge, in front of HTTP back-ends in their own namespaces,
reached from an outside client namespace. Round robin, health from haproxy's runtime
API (new back-ends start down until HealthyThreshold passes; only 200 counts), a
stopped back-end goes down within interval x threshold and comes back, LB-cookie
stickiness, draining on deregistration, seamless reload, kill -9 haproxy and a fresh
plane (netd restarted) converge, delete leaves nothing."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from netd import daemons, netns
from netd.lb import LbPlane
from netd.lbspec import Backend, HealthCheck, LbSpec, Listener
from tests.integration.elb_lab import ElbLab, self_signed, wait_for

pytestmark = pytest.mark.integration

if os.geteuid() != 0 or shutil.which("haproxy") is None:
    pytest.fail("needs root and haproxy: run scripts/install-deps.sh", pytrace=False)

LB = "10.77.0.10"
CHECK = HealthCheck(target="HTTP:8080/health", interval=1, timeout=1, unhealthy=2, healthy=2)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[ElbLab]:
    with ElbLab(tmp_path) as lab:
        yield lab


def _spec(lab: ElbLab, backends: list[str], **extra: object) -> LbSpec:
    base = LbSpec(lb_id="t" + lab.tag, address=f"{LB}/24", uplink_netns=lab.uplink,
                  uplink_bridge=lab.bridge,
                  listeners=(Listener("HTTP", 80, "HTTP", 8080),),
                  backends=tuple(Backend(n, lab.addresses[n]) for n in backends),
                  health=CHECK)
    return replace(base, **extra)  # type: ignore[arg-type]


def _served(lab: ElbLab, n: int, **kw: object) -> list[str]:
    return [lab.get(LB, 80, "/", **kw)[1].split()[0] for _ in range(n)]  # type: ignore[arg-type]


def _states(plane: LbPlane, lb_id: str) -> dict[str, bool]:
    return {k: v.up for k, v in (plane.health(lb_id) or {}).items()}


def test_round_robin_health_stickiness_drain_and_delete(lab: ElbLab, tmp_path: Path) -> None:
    plane = LbPlane(tmp_path / "netd")
    lab.add_backend("i-aaaaaaa1", 1)
    lab.add_backend("i-aaaaaaa2", 2)
    spec = _spec(lab, ["i-aaaaaaa1", "i-aaaaaaa2"])
    plane.reconcile([spec])
    # new back-ends start down (OutOfService) and come up after `healthy` passes
    assert _states(plane, spec.lb_id) == {"i-aaaaaaa1": False, "i-aaaaaaa2": False}
    assert wait_for(lambda: all(_states(plane, spec.lb_id).values()), 30)
    served = _served(lab, 6)
    assert set(served) == {"i-aaaaaaa1", "i-aaaaaaa2"}
    assert served[0] != served[1]  # alternates
    status, body, _ = lab.get(LB, 80)
    assert body.split()[1] == "10.77.0.100" and body.split()[2] == "http"  # X-Forwarded-*

    # a 500 from the health path is a failure; a stopped server too
    lab.sick("i-aaaaaaa1", True)
    t0 = time.monotonic()
    assert wait_for(lambda: _states(plane, spec.lb_id)["i-aaaaaaa1"] is False, 20)
    # the fall is detected by haproxy's own checks; the slack is this test's polling on
    # a loaded machine
    assert time.monotonic() - t0 <= CHECK.interval * CHECK.unhealthy + 5
    assert set(_served(lab, 4)) == {"i-aaaaaaa2"}
    health = plane.health(spec.lb_id) or {}
    assert health["i-aaaaaaa1"].ever_up
    lab.sick("i-aaaaaaa1", False)
    assert wait_for(lambda: _states(plane, spec.lb_id)["i-aaaaaaa1"], 20)
    lab.stop_backend("i-aaaaaaa2")
    assert wait_for(lambda: _states(plane, spec.lb_id)["i-aaaaaaa2"] is False, 20)
    assert set(_served(lab, 4)) == {"i-aaaaaaa1"}
    lab.start_backend("i-aaaaaaa2", 2)
    assert wait_for(lambda: _states(plane, spec.lb_id)["i-aaaaaaa2"], 20)

    # LB-cookie stickiness: a seamless reload keeps health (no back-end goes down)
    sticky = replace(spec, listeners=(Listener("HTTP", 80, "HTTP", 8080, lb_cookie=0),))
    plane.reconcile([sticky])
    assert _states(plane, spec.lb_id) == {"i-aaaaaaa1": True, "i-aaaaaaa2": True}
    _, first, headers = lab.get(LB, 80)
    cookie = {k.lower(): v for k, v in headers.items()}["set-cookie"].split(";")[0]
    assert cookie.startswith("AWSELB=")
    pinned = {lab.get(LB, 80, headers={"Cookie": cookie})[1].split()[0] for _ in range(6)}
    assert pinned == {first.split()[0]}

    # deregistration with draining: the back-end leaves, in-flight requests finish
    drained = replace(sticky, backends=sticky.backends[:1], drain_timeout=5)
    plane.reconcile([drained])
    assert set(_served(lab, 4)) == {"i-aaaaaaa1"}
    assert set(_states(plane, spec.lb_id)) == {"i-aaaaaaa1"}

    # a newly registered back-end starts down again and joins after `healthy` passes
    plane.reconcile([sticky])
    assert _states(plane, spec.lb_id)["i-aaaaaaa2"] is False
    assert wait_for(lambda: _states(plane, spec.lb_id).get("i-aaaaaaa2"), 20)

    # delete: nothing left (namespace, directory, processes)
    ns = plane.ns_of(spec.lb_id)
    pid = daemons.read_pid(plane.dir_of(spec.lb_id) / "haproxy.pid")
    plane.reconcile([])
    assert not netns.exists(ns)
    assert not plane.dir_of(spec.lb_id).exists()
    assert pid is not None and not daemons.cmdline(pid)


def test_kill_haproxy_and_restart_netd_converge(lab: ElbLab, tmp_path: Path) -> None:
    plane = LbPlane(tmp_path / "netd")
    lab.add_backend("i-bbbbbbb1", 1)
    spec = _spec(lab, ["i-bbbbbbb1"])
    plane.reconcile([spec])
    assert wait_for(lambda: _states(plane, spec.lb_id).get("i-bbbbbbb1"), 30)
    pid = daemons.read_pid(plane.dir_of(spec.lb_id) / "haproxy.pid")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not daemons.cmdline(pid), 20)
    assert plane.health(spec.lb_id) is None  # no data plane: no verdict
    plane.reconcile([spec])  # the supervisor's next pass
    assert wait_for(lambda: _states(plane, spec.lb_id).get("i-bbbbbbb1"), 30)
    assert _served(lab, 2) == ["i-bbbbbbb1"] * 2
    # netd restarted: a fresh plane over the same state dir adopts the running haproxy
    again = LbPlane(tmp_path / "netd")
    new_pid = daemons.read_pid(plane.dir_of(spec.lb_id) / "haproxy.pid")
    again.reconcile([spec])
    assert daemons.read_pid(plane.dir_of(spec.lb_id) / "haproxy.pid") == new_pid
    assert again.health(spec.lb_id) is not None
    # another plane (another netd or cloud on the machine) sweeps only its own
    LbPlane(tmp_path / "other").reconcile([])
    assert netns.exists(again.ns_of(spec.lb_id))
    assert _served(lab, 1) == ["i-bbbbbbb1"]
    # a namespace left by a crash with no spec is swept
    again.reconcile([])
    assert not netns.exists(again.ns_of(spec.lb_id))


def test_https_listener_terminates_tls_with_the_certificate(lab: ElbLab,
                                                            tmp_path: Path) -> None:
    cert, key = self_signed("web.elb.test")
    plane = LbPlane(tmp_path / "netd")
    lab.add_backend("i-ccccccc1", 1)
    spec = _spec(lab, ["i-ccccccc1"], listeners=(
        Listener("HTTPS", 443, "HTTP", 8080, certificate=cert + key),
        Listener("TCP", 2525, "TCP", 8080, proxy_protocol=False)))
    plane.reconcile([spec])
    assert wait_for(lambda: _states(plane, spec.lb_id).get("i-ccccccc1"), 30)
    status, body = lab.get_tls(LB, 443, cert, "web.elb.test")
    assert status == 200 and body.split() == ["i-ccccccc1", "10.77.0.100", "https"]
    with pytest.raises(ssl.SSLCertVerificationError):  # another CA does not verify
        lab.get_tls(LB, 443, self_signed("web.elb.test")[0], "web.elb.test")
    assert lab.get(LB, 2525)[1].split()[0] == "i-ccccccc1"  # TCP passes through
    pem = plane.dir_of(spec.lb_id) / "cert-443.pem"
    assert oct(pem.stat().st_mode & 0o777) == "0o600"

    # an SSL negotiation policy (TLS 1.2, one cipher) on a second listener: a client
    # offering only an excluded protocol or cipher is refused, the allowed pair served;
    # the listener without a policy still speaks TLS 1.3
    policy = Listener("HTTPS", 8443, "HTTP", 8080, certificate=cert + key,
                      tls_protocols=("TLSv1.2",),
                      tls_ciphers=("ECDHE-ECDSA-AES128-GCM-SHA256",))
    plane.reconcile([replace(spec, listeners=(*spec.listeners, policy))])
    assert _handshake(lab, 443, cert, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert _handshake(lab, 8443, cert, ssl.TLSVersion.TLSv1_3) is None
    assert _handshake(lab, 8443, cert, ssl.TLSVersion.TLSv1_2,
                      "ECDHE-ECDSA-AES256-GCM-SHA384") is None
    assert _handshake(lab, 8443, cert, ssl.TLSVersion.TLSv1_2,
                      "ECDHE-ECDSA-AES128-GCM-SHA256") == "TLSv1.2"

    # a policy with a gap (TLSv1 and TLSv1.2, not TLSv1.1): a client speaking each
    # version alone is served TLSv1 and TLSv1.2 and refused TLSv1.1 (and TLS 1.3)
    gap = Listener("HTTPS", 9443, "HTTP", 8080, certificate=cert + key,
                   tls_protocols=("TLSv1", "TLSv1.2"),
                   tls_ciphers=("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-GCM-SHA256"))
    plane.reconcile([replace(spec, listeners=(*spec.listeners, policy, gap))])
    legacy = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:@SECLEVEL=0"
    served = {v.name: _handshake(lab, 9443, cert, v, legacy) for v in (
        ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2)}
    served["TLSv1_3"] = _handshake(lab, 9443, cert, ssl.TLSVersion.TLSv1_3)
    assert served == {"TLSv1": "TLSv1", "TLSv1_1": None, "TLSv1_2": "TLSv1.2",
                      "TLSv1_3": None}, served
    # routed by its ClientHello, a request keeps the client's address and scheme
    assert lab.get_tls(LB, 9443, cert, "web.elb.test")[1].split() == [
        "i-ccccccc1", "10.77.0.100", "https"]
    # the same client offering every version up to TLSv1.1 is answered with TLSv1
    assert _handshake(lab, 9443, cert, ssl.TLSVersion.TLSv1_1, legacy,
                      ssl.TLSVersion.TLSv1) == "TLSv1"
    plane.reconcile([])
    assert not plane.dir_of(spec.lb_id).exists()


def _handshake(lab: ElbLab, port: int, ca_pem: str, version: ssl.TLSVersion,
               cipher: str | None = None,
               lowest: ssl.TLSVersion | None = None) -> str | None:
    """The protocol a client offering only ``version`` (from ``lowest`` when given) and
    ``cipher`` negotiates with the load balancer, None when the handshake fails."""
    import socket

    def body() -> str | None:
        ctx = ssl.create_default_context(cadata=ca_pem)
        with warnings.catch_warnings():  # TLS 1.0 and 1.1: deprecated, still spoken
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = lowest or version
            ctx.maximum_version = version
        if cipher:
            ctx.set_ciphers(cipher)
        try:
            with socket.create_connection((LB, port), timeout=3) as raw, \
                    ctx.wrap_socket(raw, server_hostname="web.elb.test") as tls:
                return tls.version()
        except (ssl.SSLError, OSError):
            return None

    return netns.run_in(lab.client, body)
