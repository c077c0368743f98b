"""The entry point's haproxy configuration (``netd.lb.entry_config``): what haproxy
accepts, bound to the one address asked for, health checks on every API host and a
failed connection sent to another host."""

from __future__ import annotations

import subprocess
from pathlib import Path

from netd import lb


def test_entry_config_is_valid_and_bound_to_its_address(tmp_path: Path) -> None:
    cfg = lb.entry_config("127.0.0.1", 18773, ["10.0.0.11", "10.0.0.12"], 8773, tmp_path,
                          interval=3)
    lines = [line.strip() for line in cfg.splitlines()]
    assert "bind 127.0.0.1:18773" in lines and "bind :18773" not in lines
    assert {"retries 3", "option redispatch", "option httpchk GET /_cloud/health"} <= set(lines)
    for host in ("10.0.0.11", "10.0.0.12"):
        check = next(line for line in lines if line.startswith(f"server {host} {host}:8773 check"))
        assert "inter 3s" in check and "disabled" not in check
        assert f"server {host} {host}:8773 track health/{host}" in lines
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    result = subprocess.run([lb.HAPROXY, "-c", "-q", "-f", str(path)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
