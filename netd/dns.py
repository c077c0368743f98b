"""The cloud's DNS resolver: one dnsmasq answering for the cloud's names (load
balancers today) from a hosts file, in a namespace and on an address given by the
cloud, authoritative for nothing else (no upstream, no /etc/hosts).

Owns `<state>/dns/` (hosts file, pid file, log). `apply(netns, address, records)`
rewrites the hosts file when the records changed and sends SIGHUP (dnsmasq re-reads
it); starts dnsmasq when none of ours runs with these arguments (a changed address or
namespace restarts it); `stop()` stops it. Never signals a process that is not ours.
"""

from __future__ import annotations

import signal
from pathlib import Path

from netd import daemons

DNSMASQ = "dnsmasq"


class DnsServer:
    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir) / "dns"

    @property
    def pidfile(self) -> Path:
        return self.dir / "dnsmasq.pid"

    def _argv(self, address: str) -> list[str]:
        return [DNSMASQ, "--conf-file=/dev/null", "--keep-in-foreground", "--no-resolv",
                "--no-hosts", "--bind-interfaces", f"--listen-address={address}",
                "--port=53", "--no-dhcp-interface=", f"--addn-hosts={self.dir / 'hosts'}",
                f"--pid-file={self.pidfile}", "--local-ttl=5", "--log-facility=-",
                "--user=root"]

    def apply(self, ns: str, address: str, records: dict[str, str] | dict[str, list[str]]
              ) -> None:
        """Serve ``records`` (name -> address, or addresses: every one answered)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        hosts = self.dir / "hosts"
        text = "".join(f"{ip} {name}\n" for name, ips in sorted(records.items())
                       for ip in ([ips] if isinstance(ips, str) else ips))
        changed = not hosts.exists() or hosts.read_text() != text
        if changed:
            tmp = self.dir / "hosts.new"
            tmp.write_text(text)
            tmp.replace(hosts)
        argv = self._argv(address)
        ns_file = self.dir / "netns"
        pid = daemons.running(self.pidfile, argv)
        if pid is not None and ns_file.exists() and ns_file.read_text() == ns:
            if changed:
                daemons.signal_pid(pid, signal.SIGHUP)
            return
        self.stop()
        ns_file.write_text(ns)
        daemons.start(ns, argv, self.dir / "dnsmasq.log", wait=False)
        daemons.wait_for_pidfile(self.pidfile, argv)

    def stop(self) -> None:
        daemons.stop(self.pidfile)
