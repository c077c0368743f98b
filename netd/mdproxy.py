"""The metadata proxy that runs inside a host namespace.

Owns: a small HTTP/1.1 forwarder. Instances reach 169.254.169.254:80, which
the host's nftables DNATs to this proxy on the gateway address; the proxy
forwards each request to the controller's metadata server over a Unix-domain
socket (it crosses namespaces; TCP to the root namespace's loopback would
not) or TCP, replacing any client-supplied X-Forwarded-For / Forwarded /
X-Real-IP with the instance's real source address in `X-Forwarded-For`.
One request per connection (`Connection: close`); request bodies need a
Content-Length.

IMDSv2 against SSRF (as AWS): a token request (`PUT /latest/api/token`) that
carries `X-Forwarded-For` (it came through a proxy, maybe one tricked into it)
answers 403 and is never forwarded; the token response leaves with the IP TTL the
metadata server names in `X-Cloud-Metadata-Hop-Limit` (the instance's hop limit,
header stripped), so it dies before crossing more routers (a container bridge or a
NAT on the instance) than allowed.

In a VPC (`--identity FILE`, JSON `{ip: {"vpc": .., "eni": .., "instance": ..}}`
kept by the VPC agent for the router namespace the proxy runs in), addresses
overlap between VPCs, so the proxy also names the caller: it adds
`X-Cloud-Vpc-Id`, `X-Cloud-Eni-Id` and `X-Cloud-Instance-Id` for the source
address (client-supplied ones are dropped) and answers 403 to an address that
is no ENI of this VPC on this host. The file is re-read when it changes.

Run as `python -m netd.mdproxy --listen IP:PORT --upstream unix:/path
--pidfile FILE [--identity FILE]`. The pid file is written once the socket listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

MAX_HEAD = 32 * 1024
MAX_BODY = 1024 * 1024
TIMEOUT = 30.0
_DROP = {
    "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
    "upgrade", "x-forwarded-for", "forwarded", "x-real-ip",
    "x-cloud-vpc-id", "x-cloud-eni-id", "x-cloud-instance-id",
}
IDENTITY_HEADERS = (("vpc", "X-Cloud-Vpc-Id"), ("eni", "X-Cloud-Eni-Id"),
                    ("instance", "X-Cloud-Instance-Id"))


class Identities:
    """The VPC agent's map of source address -> ENI identity, re-read on change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stamp: tuple[int, int] | None = None
        self.table: dict[str, dict[str, str]] = {}

    def lookup(self, ip: str) -> dict[str, str] | None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp != self.stamp:
                import json

                self.table = json.loads(self.path.read_text())
                self.stamp = stamp
        except (OSError, ValueError):
            self.table, self.stamp = {}, None
        return self.table.get(ip)


HOP_LIMIT_HEADER = b"x-cloud-metadata-hop-limit"


class Forbidden(ValueError):
    """A request the proxy refuses with 403."""


def is_token_request(request_line: str) -> bool:
    method, target = request_line.split(" ")[:2]
    path = target.split("?", 1)[0].rstrip("/")
    return method.upper() == "PUT" and path.endswith("/api/token")


def rewrite_head(head: bytes, client_ip: str,
                 identity: dict[str, str] | None = None) -> tuple[bytes, int]:
    """The head to send upstream and the request body length (``Forbidden``: 403)."""
    lines = head.decode("latin-1").split("\r\n")
    request_line, header_lines = lines[0], [h for h in lines[1:] if h]
    if len(request_line.split(" ")) != 3:
        raise ValueError("bad request line")
    if is_token_request(request_line) and any(
            h.partition(":")[0].strip().lower() == "x-forwarded-for" for h in header_lines):
        raise Forbidden("IMDSv2 token requests through a proxy are refused")
    out = [request_line]
    length = 0
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header line")
        key = name.strip().lower()
        if key == "transfer-encoding":
            raise ValueError("chunked request bodies are not supported")
        if key == "content-length":
            length = int(value.strip())
            if not 0 <= length <= MAX_BODY:
                raise ValueError("request body too large")
        if key in _DROP:
            continue
        out.append(line)
    if identity is not None:
        out += [f"{header}: {identity[key]}" for key, header in IDENTITY_HEADERS
                if identity.get(key)]
    out += [f"X-Forwarded-For: {client_ip}", "Connection: close", "", ""]
    return "\r\n".join(out).encode("latin-1"), length


async def _open_upstream(upstream: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if upstream.startswith("unix:"):
        return await asyncio.open_unix_connection(upstream[len("unix:"):])
    if upstream.startswith("tcp:"):
        host, _, port = upstream[len("tcp:"):].rpartition(":")
        return await asyncio.open_connection(host, int(port))
    raise ValueError(f"unsupported upstream {upstream!r}")


async def _error(writer: asyncio.StreamWriter, status: str) -> None:
    writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    with contextlib.suppress(ConnectionError):
        await writer.drain()


def take_hop_limit(head: bytes) -> tuple[bytes, int | None]:
    """The response head without the hop-limit header, and the hop limit it named."""
    lines = head.split(b"\r\n")
    kept, hops = [lines[0]], None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == HOP_LIMIT_HEADER:
            try:
                hops = max(1, min(64, int(value.strip())))
            except ValueError:
                hops = 1
            continue
        kept.append(line)
    return b"\r\n".join(kept), hops


def set_ttl(writer: asyncio.StreamWriter, hops: int) -> None:
    """Send what follows on ``writer`` with IP TTL (IPv6: hop limit) ``hops``."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
    else:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)


async def handle(upstream: str, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, identities: Identities | None = None) -> None:
    client_ip = str(writer.get_extra_info("peername")[0])
    try:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            if len(head) > MAX_HEAD:
                raise ValueError("head too large")
            identity = None
            if identities is not None:
                identity = identities.lookup(client_ip)
                if identity is None:
                    raise Forbidden("not an interface of this VPC")
            new_head, length = rewrite_head(head[:-4], client_ip, identity)
            body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT) if length else b""
        except Forbidden:
            await _error(writer, "403 Forbidden")
            return
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError):
            await _error(writer, "400 Bad Request")
            return
        token = is_token_request(new_head.split(b"\r\n", 1)[0].decode("latin-1"))
        try:
            up_r, up_w = await asyncio.wait_for(_open_upstream(upstream), TIMEOUT)
        except (OSError, TimeoutError):
            await _error(writer, "502 Bad Gateway")
            return
        try:
            up_w.write(new_head + body)
            await up_w.drain()
            if token:  # the token leaves with the instance's hop limit as its IP TTL
                try:
                    up_head = await asyncio.wait_for(up_r.readuntil(b"\r\n\r\n"), TIMEOUT)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    await _error(writer, "502 Bad Gateway")
                    return
                out_head, hops = take_hop_limit(up_head[:-4])
                set_ttl(writer, hops or 1)
                writer.write(out_head + b"\r\n\r\n")
            while chunk := await asyncio.wait_for(up_r.read(65536), TIMEOUT):
                writer.write(chunk)
                await writer.drain()
        finally:
            up_w.close()
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def serve(listen: str, upstream: str, pidfile: Path | None,
                identity: Path | None = None) -> None:
    host, _, port = listen.rpartition(":")
    identities = Identities(identity) if identity is not None else None

    async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await handle(upstream, r, w, identities)

    server = await asyncio.start_server(on_conn, host, int(port), reuse_address=True,
                                        limit=MAX_HEAD)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if pidfile is not None:
        tmp = pidfile.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, pidfile)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    os.umask(0o077)
    ap = argparse.ArgumentParser(prog="netd.mdproxy", description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="IP:PORT inside the namespace")
    ap.add_argument("--upstream", required=True, help="unix:/path or tcp:host:port")
    ap.add_argument("--pidfile", type=Path)
    ap.add_argument("--identity", type=Path, help="VPC: JSON map source IP -> ENI identity")
    args = ap.parse_args(argv)
    asyncio.run(serve(args.listen, args.upstream, args.pidfile, args.identity))


if __name__ == "__main__":
    main()
