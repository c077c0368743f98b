"""haproxy configuration rendered for a load balancer, and access log lines turned
into ELB's format (units beside the real-haproxy tests)."""

from __future__ import annotations

import subprocess

import pytest

from cloudctl.services.elb.access_logs import convert, interval_end, object_key
from netd.lbspec import Backend, HealthCheck, LbSpec, Listener, Paths, render

BASE = LbSpec(lb_id="abc123", address="10.0.0.5/24", uplink_netns="u", uplink_bridge="b",
              backends=(Backend("i-1", "10.0.0.7"), Backend("i-2", "10.0.0.8")),
              health=HealthCheck("HTTP:8080/ping", 10, 5, 3, 4))


def _cfg(**kw: object) -> str:
    from dataclasses import replace

    return render(replace(BASE, **kw), Paths("/run/x"), {"i-1"})  # type: ignore[arg-type]


def test_health_check_and_new_servers_start_disabled() -> None:
    cfg = _cfg(listeners=(Listener("HTTP", 80, "HTTP", 8080),))
    assert "option httpchk GET /ping" in cfg and "http-check expect status 200" in cfg
    assert "server i-1 10.0.0.7:8080 check port 8080 inter 10s" in cfg
    assert "rise 4 fall 3" in cfg and "timeout check 5s" in cfg
    line_2 = next(line for line in cfg.splitlines() if "server i-2" in line and "check" in line)
    assert line_2.endswith(" disabled") and "disabled" not in next(
        line for line in cfg.splitlines() if "server i-1" in line and "check" in line)
    assert "server i-1 10.0.0.7:8080 track health/i-1" in cfg


def test_proxy_protocol_app_cookie_https_backend_and_draining() -> None:
    cfg = _cfg(listeners=(Listener("TCP", 2525, "TCP", 25, proxy_protocol=True),
                          Listener("HTTP", 80, "HTTPS", 8443, app_cookie="SESSION"),
                          Listener("HTTP", 81, "HTTP", 8080, lb_cookie=120)),
               drain_timeout=45, idle_timeout=90)
    assert "server i-1 10.0.0.7:25 track health/i-1 send-proxy" in cfg
    assert "cookie SESSION prefix nocache" in cfg
    assert "track health/i-1 cookie i-1 ssl verify none" in cfg
    assert "cookie AWSELB insert indirect nocache maxlife 120s" in cfg
    assert "hard-stop-after 45s" in cfg and "timeout client 90s" in cfg


@pytest.mark.parametrize("bad", [
    {"lb_id": "x/../y"}, {"backends": (Backend("i-1 x", "10.0.0.1"),)},
    {"health": HealthCheck("HTTP:80/a b")}, {"health": HealthCheck("UDP:80")},
    {"listeners": (Listener("HTTP", 80, "HTTP", 80, app_cookie="a;b"),)},
])
def test_injection_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _cfg(**bad)


def test_rendered_configuration_is_valid_for_haproxy(tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    if shutil.which("haproxy") is None:
        pytest.fail("needs haproxy: run scripts/install-deps.sh", pytrace=False)
    cfg = _cfg(listeners=(Listener("TCP", 2525, "TCP", 25, proxy_protocol=True),
                          Listener("HTTP", 80, "HTTP", 8080, lb_cookie=0)),
               access_log=True)
    path = Path(str(tmp_path)) / "haproxy.cfg"
    path.write_text(cfg)
    check = subprocess.run(["haproxy", "-c", "-q", "-f", str(path)], capture_output=True)
    assert check.returncode == 0, check.stderr


def test_access_log_lines_in_elb_format() -> None:
    raw = ("H 1764892800 42 10.1.2.3:5000 10.0.0.7:8080 1 12 3 200 i-1 120 345 GET "
           "/a?b=1 HTTP/1.1 web.example probe/1.0 (x)")
    assert convert(raw, "web") == (
        "2025-12-05T00:00:00.000042Z web 10.1.2.3:5000 10.0.0.7:8080 0.001000 0.012000 "
        "0.003000 200 200 120 345 \"GET http://web.example/a?b=1 HTTP/1.1\" "
        "\"probe/1.0 (x)\" - -")
    nosrv = "H 1764892800 1 10.1.2.3:5000 -:- 0 -1 0 503 <NOSRV> 80 200 GET / HTTP/1.1 h -"
    line = convert(nosrv, "web")
    assert line is not None and " - -1 " not in line.split("\"")[0][:10]
    assert line.split()[3] == "-" and line.split()[8] == "-"
    tcp = "T 1764892800 5 10.1.2.3:5000 10.0.0.7:25 0 1 40 - i-1 10 20"
    assert convert(tcp, "mail") == (
        "2025-12-05T00:00:00.000005Z mail 10.1.2.3:5000 10.0.0.7:25 0.000000 0.001000 "
        "0.040000 - - 10 20 \"- - - \" \"-\" - -")
    assert convert("garbage", "x") is None


def test_key_layout_and_interval() -> None:
    from datetime import UTC, datetime

    key = object_key("/logs/", "123456789012", "eu-1", "web",
                     datetime(2026, 1, 2, 3, 5, tzinfo=UTC), "10.0.0.5")
    assert key.startswith("logs/AWSLogs/123456789012/elasticloadbalancing/eu-1/2026/01/02/"
                          "123456789012_elasticloadbalancing_eu-1_web_20260102T0305Z_"
                          "10.0.0.5_")
    assert key.endswith(".log")
    assert object_key("", "1", "r", "n", datetime(2026, 1, 2, tzinfo=UTC),
                      "a").startswith("AWSLogs/")
    assert interval_end(3600 * 5 + 299, 5) == 3600 * 5
    assert interval_end(3600 * 5 + 301, 5) == 3600 * 5 + 300
