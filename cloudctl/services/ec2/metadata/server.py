"""The metadata HTTP server: a Unix socket for netd's proxy (and an optional loopback
TCP listener for tests, ``CLOUDCTL_METADATA_LISTEN=127.0.0.1:PORT``).

The caller is the instance whose private address is the ``X-Forwarded-For`` the
proxy adds (the last hop); no other instance's data is reachable. In a VPC addresses
overlap, so the VPC data plane's proxy (``netd.mdproxy --identity``) names the caller's
interface instead (``X-Cloud-Eni-Id``, with ``X-Cloud-Instance-Id`` and
``X-Cloud-Vpc-Id``): the instance is the one that interface is attached to, and all
three must agree. Those headers are believed only on the Unix socket: it is mode 0600,
reached only by netd's proxies (root on the host), which drop any ``X-Cloud-*`` a guest
sent and add their own from the source address the anti-spoofing rules pin to the
interface. On the TCP test listener they are refused (404), and an address lookup never
answers for an instance in a VPC (its address may be another VPC's too). IMDSv2: ``PUT
/latest/api/token`` with ``X-aws-ec2-metadata-token-ttl-seconds`` (1-21600) returns
a token bound to that instance; a bad or expired token answers 401; with
``http-tokens=required`` a request without a token answers 401 too. A token
request that went through a forwarding proxy (more than one ``X-Forwarded-For``
hop; netd's proxy refuses one carrying the instance's own ``X-Forwarded-For``)
answers 403, as AWS does against SSRF through proxies; the token response names
the hop limit in ``X-Cloud-Metadata-Hop-Limit`` for netd's proxy, which sends it
with that IP TTL and strips the header.

The identity document is signed with a dedicated RSA-2048 key
(``<data>/ca/instance-identity.{pem,key}``, ``cloudctl.pki.ensure_identity_key``),
never the CA key: ``signature`` (base64 RSA PKCS#1 v1.5 SHA-256), ``pkcs7`` and
``rsa2048`` (base64 DER PKCS#7 signed data holding the document, SHA-256, as AWS's
``rsa2048``; verify with ``openssl smime -verify -inform PEM -certfile
instance-identity.pem -noverify``). Runs in worker 0 only (``MetadataProvider.start``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from sqlalchemy import select

from cloudctl.pki import ensure_identity_key
from cloudctl.server.providers import Provider
from cloudctl.services.ec2.compute.dns_names import names_of
from cloudctl.services.ec2.compute.instance_models import Instance
from cloudctl.services.ec2.metadata import tree as mdtree
from cloudctl.services.ec2.network.addresses import instance_public_ips
from cloudctl.services.ec2.vpc.models import NetworkInterfaceRow

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

log = logging.getLogger("cloudctl.metadata")
VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2008-02-01", "2009-04-04", "2011-01-01",
            "2012-01-12", "2014-02-25", "2016-09-02", "2021-03-23", "latest")
TEXT = "text/plain"
HOP_LIMIT_HEADER = "X-Cloud-Metadata-Hop-Limit"
HOP_LIMIT = 1  # HttpPutResponseHopLimit: 1, as DescribeInstances reports
VPC_HEADERS = ("X-Cloud-Eni-Id", "X-Cloud-Instance-Id", "X-Cloud-Vpc-Id")
LIVE = ("pending", "running", "stopping")


def through_proxy(request: web.Request) -> bool:
    """Whether the request came over the metadata Unix socket (netd's proxies only)."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    return sock is not None and sock.family == socket.AF_UNIX


class TokenIssuer:
    """IMDSv2 session tokens: ``instance|expiry|hmac`` under a per-process key."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self, instance_id: str, ttl: int) -> str:
        body = f"{instance_id}|{int(time.time()) + ttl}"
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]
        return base64.urlsafe_b64encode(f"{body}|{mac}".encode()).decode()

    def check(self, token: str, instance_id: str) -> bool:
        try:
            iid, expiry, mac = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        except (ValueError, UnicodeDecodeError):
            return False
        good = hmac.new(self._key, f"{iid}|{expiry}".encode(), hashlib.sha256).hexdigest()[:32]
        return hmac.compare_digest(good, mac) and iid == instance_id and int(expiry) > time.time()


class MetadataServer:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.tokens = TokenIssuer()
        self._runners: list[web.AppRunner] = []
        self._identity: tuple[rsa.RSAPrivateKey, x509.Certificate] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        path = self.cloud.settings.metadata_socket
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        await web.UnixSite(runner, str(path)).start()
        os.chmod(path, 0o600)  # netd's proxy runs as root
        listen = os.environ.get("CLOUDCTL_METADATA_LISTEN")
        if listen:
            host, _, port = listen.rpartition(":")
            await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
        self._runners.append(runner)
        log.info("metadata service on %s%s", path, f" and {listen}" if listen else "")

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    async def _instance(self, request: web.Request) -> Instance | None:
        if any(h in request.headers for h in VPC_HEADERS):
            return await self._vpc_instance(request)
        forwarded = request.headers.get("X-Forwarded-For", "")
        address = forwarded.split(",")[-1].strip() if forwarded else ""
        if not address:
            return None
        in_vpc = select(NetworkInterfaceRow.instance_id).where(
            NetworkInterfaceRow.instance_id.is_not(None))
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(Instance).where(
                Instance.private_ip == address, Instance.state.in_(LIVE),
                Instance.instance_id.not_in(in_vpc)))).scalars().all()
            if len(rows) != 1:
                return None
            return await self._current(session, rows[0])

    async def _vpc_instance(self, request: web.Request) -> Instance | None:
        """The instance behind the interface netd's VPC proxy names (None: refused)."""
        if not through_proxy(request) or any(
                len(request.headers.getall(h, [])) != 1 for h in VPC_HEADERS):
            return None
        eni_id, instance_id, vpc_id = (request.headers[h] for h in VPC_HEADERS)
        async with self.cloud.sessions() as session:
            eni = await session.get(NetworkInterfaceRow, eni_id)
            if eni is None or eni.instance_id != instance_id or eni.vpc_id != vpc_id:
                return None
            row = await session.get(Instance, instance_id)
            if row is None or row.state not in LIVE:
                return None
            return await self._current(session, row)

    @staticmethod
    async def _current(session: Any, row: Instance) -> Instance:
        # the public address now (an elastic IP replaces the launch one), not persisted
        current = (await instance_public_ips(session, [row.instance_id])).get(row.instance_id)
        session.expunge(row)
        row.public_ip = current
        return row

    async def handle(self, request: web.Request) -> web.Response:
        row = await self._instance(request)
        if row is None:
            return web.Response(status=404, text="Not Found", content_type=TEXT)
        if row.http_endpoint == "disabled":
            return web.Response(status=403, text="Forbidden", content_type=TEXT)
        parts = [p for p in request.path.split("/") if p]
        if request.method == "PUT":
            if parts[1:] != ["api", "token"]:
                return web.Response(status=405, content_type=TEXT)
            if "," in request.headers.get("X-Forwarded-For", "") or \
                    len(request.headers.getall("X-Forwarded-For", [])) > 1:
                return web.Response(status=403, text="Forbidden", content_type=TEXT)
            try:
                ttl = int(request.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
            except ValueError:
                return web.Response(status=400, text="Bad Request", content_type=TEXT)
            if not 1 <= ttl <= 21600:
                return web.Response(status=400, text="Bad Request", content_type=TEXT)
            return web.Response(text=self.tokens.issue(row.instance_id, ttl), content_type=TEXT,
                                headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl),
                                         HOP_LIMIT_HEADER: str(HOP_LIMIT)})
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, content_type=TEXT)
        token = request.headers.get("X-aws-ec2-metadata-token")
        if token is not None and not self.tokens.check(token, row.instance_id):
            return web.Response(status=401, text="Unauthorized", content_type=TEXT)
        if token is None and row.http_tokens == "required":
            return web.Response(status=401, text="Unauthorized", content_type=TEXT)
        if not parts:
            return web.Response(text="\n".join(VERSIONS), content_type=TEXT)
        if parts[0] not in VERSIONS:
            return web.Response(status=404, text="Not Found", content_type=TEXT)
        return await self._serve(row, parts[1:], request.path.endswith("/"))

    async def _serve(self, row: Instance, parts: list[str], slash: bool) -> web.Response:
        if not parts:
            return web.Response(text="dynamic\nmeta-data\nuser-data", content_type=TEXT)
        if parts == ["user-data"]:
            data = mdtree.user_data(row)
            if data is None:
                return web.Response(status=404, text="Not Found", content_type=TEXT)
            return web.Response(body=data, content_type="application/octet-stream")
        if parts[0] == "dynamic":
            return self._dynamic(row, parts[1:])
        if parts[0] != "meta-data":
            return web.Response(status=404, text="Not Found", content_type=TEXT)
        node = mdtree.lookup(mdtree.build_tree(row, names_of(self.cloud.properties), await self._iam(row)), parts[1:])
        if node is None:
            return web.Response(status=404, text="Not Found", content_type=TEXT)
        if isinstance(node, dict):
            return web.Response(text=mdtree.listing(node), content_type=TEXT)
        if isinstance(node, str):
            return web.Response(text=node, content_type=TEXT)
        return web.Response(text=json.dumps(node, indent=2), content_type=TEXT)

    def _dynamic(self, row: Instance, parts: list[str]) -> web.Response:
        if not parts:
            return web.Response(text="instance-identity/", content_type=TEXT)
        if parts == ["instance-identity"]:
            return web.Response(text="document\npkcs7\nrsa2048\nsignature", content_type=TEXT)
        if parts == ["instance-identity", "document"]:
            return web.Response(body=mdtree.document_bytes(row), content_type=TEXT)
        if parts == ["instance-identity", "signature"]:
            return web.Response(text=self._sign(mdtree.document_bytes(row)), content_type=TEXT)
        if parts in (["instance-identity", "pkcs7"], ["instance-identity", "rsa2048"]):
            return web.Response(text=self._pkcs7(mdtree.document_bytes(row)), content_type=TEXT)
        return web.Response(status=404, text="Not Found", content_type=TEXT)

    def _identity_key(self) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
        if self._identity is None:
            paths = ensure_identity_key(self.cloud.settings.ca_dir)
            key = serialization.load_pem_private_key(paths.key.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            self._identity = (key, x509.load_pem_x509_certificate(paths.cert.read_bytes()))
        return self._identity

    def _sign(self, document: bytes) -> str:
        """Base64 RSA (PKCS#1 v1.5, SHA-256) signature with the identity key."""
        key, _ = self._identity_key()
        return base64.b64encode(key.sign(document, padding.PKCS1v15(), hashes.SHA256())).decode()

    def _pkcs7(self, document: bytes) -> str:
        """Base64 DER PKCS#7 signed data holding the document (no PEM armour, as AWS)."""
        key, cert = self._identity_key()
        signed = (pkcs7.PKCS7SignatureBuilder().set_data(document)
                  .add_signer(cert, key, hashes.SHA256())
                  .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.NoCapabilities,
                                                     pkcs7.PKCS7Options.Binary]))
        text = base64.b64encode(signed).decode()
        return "\n".join(text[i:i + 64] for i in range(0, len(text), 64))

    async def _iam(self, row: Instance) -> dict[str, Any] | None:
        """iam/info and iam/security-credentials/<role> when the instance has a profile
        whose role trusts EC2 (else no iam/)."""
        if not row.iam_instance_profile:
            return None
        from cloudctl.services.iam.api import instance_profile_credentials

        found = await instance_profile_credentials(
            self.cloud, row.account_id, row.iam_instance_profile["Arn"], row.instance_id)
        if not found:
            return None
        role, creds, profile_id = found
        info = {"Code": "Success", "LastUpdated": creds["LastUpdated"],
                "InstanceProfileArn": row.iam_instance_profile["Arn"],
                "InstanceProfileId": profile_id}
        return {"info": json.dumps(info, indent=2),
                "security-credentials": {role: json.dumps(creds, indent=2)}}


class MetadataProvider(Provider):
    """Runs the metadata server in worker 0 for the life of the process (no API operations)."""

    service = "ec2"

    def __init__(self, cloud: Cloud) -> None:
        super().__init__(cloud)
        self.server: MetadataServer | None = None

    async def start(self) -> None:
        if self.cloud.worker_index == 0:
            self.server = MetadataServer(self.cloud)
            await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
