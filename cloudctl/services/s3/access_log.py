"""Server access logging: Put/GetBucketLogging, records, and their delivery.

Every S3 request naming a bucket is noted by the dispatcher (``AccessLog.note``: a
tuple appended to an in-memory queue, nothing else on the request's path). A second
after the first note since its last pass, each API process turns the notes of buckets
with logging enabled into lines of the AWS server access log format, queues them in
``s3_log_records`` (durable, shared by every process) and tells the deliverer
(``cloudctl.core.wakes`` from another process). The leader delivers them every
``objectstorage.access_log_flush_sec`` seconds while there are some: one object per
source bucket and pass, named ``<TargetPrefix>YYYY-mm-dd-HH-MM-SS-<random>`` in the
target bucket, then the delivered records are deleted. With none queued it waits for a
recorder's word, or ``DELIVERY_IDLE`` (a lost word costs no more).

Delivery is permitted as AWS permits it, checked when logging is configured and again
at every delivery: the target bucket belongs to the source bucket's account, or its
policy allows the logging service principal (``logging.s3.amazonaws.com``)
``s3:PutObject``, or (ACLs enabled) its ACL grants the LogDelivery group WRITE.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, select

from cloudctl.core import ticks, wakes
from cloudctl.core.fencing import TERM, Fenced
from cloudctl.protocol.wire import WireRequest
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import delivery, identity, ownership
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.base import POLICIES, S3Provider, dumps, loads
from cloudctl.services.s3.errors import s3_error
from cloudctl.services.s3.hook import HOOK
from cloudctl.services.s3.models import S3Bucket, S3LogRecord

DELIVERER = "s3-access-log"
DELIVERY_IDLE = 60.0  # seconds between looks at an empty queue that no recorder woke
log = logging.getLogger(__name__)

SERVICE_PRINCIPAL = "logging.s3.amazonaws.com"
_Note = tuple[float, str, str, str, str, str, str, str, int, str, int, int, float, str,
              str, str, str, str, str]


def _invalid_target(message: str) -> Exception:
    return s3_error("InvalidTargetBucketForLogging", message)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_allows_service(policy: str | None, target: str,
                          service: str = SERVICE_PRINCIPAL) -> bool:
    """Whether the bucket policy lets the S3 service principal ``service`` put objects
    into ``target`` (an Allow statement naming it, ``s3:PutObject`` and the bucket)."""
    if not policy:
        return False
    try:
        statements = _as_list(json.loads(policy).get("Statement") or [])
    except (ValueError, AttributeError):
        return False
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        actions = [str(a).lower() for a in _as_list(statement.get("Action") or [])]
        resources = [str(r) for r in _as_list(statement.get("Resource") or [])]
        if service in services \
                and any(a in ("s3:putobject", "s3:*", "*") for a in actions) \
                and any(r.startswith(f"arn:aws:s3:::{target}") or r == "*" for r in resources):
            return True
    return False


def delivery_allowed(source: S3Bucket, target: S3Bucket) -> bool:
    if target.account_id == source.account_id:
        return True
    if policy_allows_service(target.policy, target.name):
        return True
    if ownership.enforced(target):
        return False
    return any((g.get("Grantee") or {}).get("URI") == acls.LOG_DELIVERY
               and g.get("Permission") in ("WRITE", "FULL_CONTROL")
               for g in acls.load(target.acl).get("Grants") or [])


def _operation(method: str, wire: WireRequest, key: str | None) -> str:
    names = [name for name, _ in wire.query if not name.lower().startswith(("x-amz-",
                                                                             "response-"))]
    sub = next((n for n in names if n in _SUBRESOURCES), None)
    if sub is not None:
        kind = _SUBRESOURCES[sub]
    else:
        kind = "OBJECT" if key else "BUCKET"
    return f"REST.{method}.{kind}"


_SUBRESOURCES = {
    "acl": "ACL", "tagging": "TAGGING", "uploadId": "UPLOAD", "uploads": "UPLOADS",
    "versioning": "VERSIONING", "policy": "BUCKETPOLICY", "logging": "LOGGING_STATUS",
    "website": "WEBSITE", "cors": "CORS", "lifecycle": "LIFECYCLE", "replication": "REPLICATION",
    "object-lock": "OBJECT_LOCK_CONFIGURATION", "retention": "RETENTION",
    "legal-hold": "LEGAL_HOLD", "attributes": "OBJECT_ATTRIBUTES", "versions": "VERSIONS",
    "location": "LOCATION", "encryption": "ENCRYPTION", "publicAccessBlock": "PUBLIC_ACCESS_BLOCK",
    "ownershipControls": "OWNERSHIP_CONTROLS", "requestPayment": "REQUEST_PAYMENT",
    "accelerate": "ACCELERATE", "inventory": "INVENTORY", "delete": "MULTI_OBJECT_DELETE",
}


def _field(value: str | None) -> str:
    return value if value else "-"


class AccessLog:
    """The per-process recorder and, on the leader, the deliverer."""

    def __init__(self, provider: S3Provider) -> None:
        self.provider = provider
        self.cloud = provider.cloud
        self._notes: deque[_Note] = deque(maxlen=100000)
        self._noted = asyncio.Event()  # set by the first note since the last recording
        self._recorded = asyncio.Event()  # records queued since the deliverer's last look

    def note(self, wire: WireRequest, ctx: RequestContext | None, params: dict[str, Any],
             status: int, error_code: str | None, headers: Any, bytes_sent: int,
             started: float, request_id: str) -> None:
        """Remember one finished request (cheap: formatting and storing come later)."""
        bucket = params.get("Bucket")
        if not bucket:
            return
        key = params.get("Key")
        credential = ctx.credential if ctx is not None else None
        auth = wire.header("Authorization") or ""
        if auth.startswith("AWS4-"):
            sig, kind = "SigV4", "AuthHeader"
        elif auth.startswith("AWS "):
            sig, kind = "SigV2", "AuthHeader"
        elif wire.query_value("X-Amz-Algorithm"):
            sig, kind = "SigV4", "QueryString"
        elif wire.query_value("Signature"):
            sig, kind = "SigV2", "QueryString"
        else:
            sig, kind = "", ""
        size = 0
        total = headers.get("Content-Range", "").rpartition("/")[2] if headers else ""
        length = (headers or {}).get("Content-Length") or ""
        if wire.method in ("PUT", "POST"):
            length = wire.header("x-amz-decoded-content-length") \
                or wire.header("Content-Length") or ""
        size = int(total) if total.isdigit() else int(length) if str(length).isdigit() else 0
        sent = str((headers or {}).get("Content-Length") or "")
        if not bytes_sent and wire.method != "HEAD" and sent.isdigit():
            bytes_sent = int(sent)  # a whole-body response: its length was sent
        uri = f"{wire.method} {wire.path}{'?' + wire.raw_query if wire.raw_query else ''} HTTP/1.1"
        version = (headers or {}).get("x-amz-version-id") or params.get("VersionId") or ""
        elapsed = (time.perf_counter() - started) * 1000
        self._notes.append((
            time.time(), str(bucket), wire.remote,
            credential.principal_arn if credential is not None else "",
            request_id, _operation(wire.method, wire, key),
            quote(str(key), safe="/") if key is not None else "", uri, status,
            error_code or "", bytes_sent, size, elapsed,
            wire.header("Referer") or "", wire.header("User-Agent") or "", str(version), sig,
            kind, wire.header("Host") or ""))
        if not self._noted.is_set():
            self._noted.set()

    async def run_recorder(self) -> None:
        """A second after a request was noted: queue the lines of logged buckets'
        requests (every process); a process that serves no S3 request does not wake."""
        while True:
            await self._noted.wait()
            await ticks.sleep(1.0)
            self._noted.clear()  # a note from now on sets it again: the next recording
            try:
                await self.record_pending()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("access log recording failed")

    async def record_pending(self) -> None:
        notes = list(self._notes)
        self._notes.clear()
        rows: list[S3LogRecord] = []
        policies = self.cloud.runtime[POLICIES]
        for note in notes:
            bucket: S3Bucket | None = await policies.row(note[1])
            if bucket is None or not bucket.logging:
                continue
            owner = identity.cached(bucket.account_id)
            if owner is None:
                async with self.cloud.sessions() as session:
                    owner = await identity.owner_of(session, bucket.account_id)
            rows.append(S3LogRecord(bucket=note[1], line=self._line(owner.canonical_id, note),
                                    created_at=datetime.now(UTC)))
        if rows:
            async with self.cloud.sessions() as session:
                session.add_all(rows)
                await session.commit()
            if self.cloud.runs_controllers and self.cloud.election.leads(DELIVERER):
                self._recorded.set()
            else:
                wakes.forward(DELIVERER, None)

    def _woken(self, key: str | None) -> None:
        del key
        self._recorded.set()

    @staticmethod
    def _line(owner: str, note: _Note) -> str:
        (stamp, bucket, remote, requester, request_id, operation_name, key, uri, status,
         error, sent, size, elapsed, referrer, agent, version, sig, kind, host) = note
        when = datetime.fromtimestamp(stamp, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        host_id = base64.b64encode(hashlib.sha256(request_id.encode()).digest()).decode()
        millis = max(1, int(elapsed))
        return " ".join([
            owner, bucket, f"[{when}]", _field(remote), _field(requester), request_id,
            operation_name, _field(key), f'"{uri}"', str(status), _field(error),
            str(sent) if sent else "-", str(size) if size else "-", str(millis), str(millis),
            f'"{_field(referrer)}"', f'"{_field(agent)}"', _field(version), host_id,
            _field(sig), "-", _field(kind), _field(host), "-", "-", "-"])

    async def run_deliverer(self) -> None:
        """On the leader: deliver queued records every flush interval (an elected kind of
        its own, ``s3-access-log``, its writes fenced like a reconciler's). A process
        that runs no controllers never delivers: it has nothing to wait for."""
        if not self.cloud.runs_controllers:
            return
        self.cloud.election.campaign(DELIVERER, lambda: None)
        wakes.register(DELIVERER, self._woken)
        try:
            queued = True  # look at start: records a stopped process left
            while True:
                await self._next_pass(queued)
                term = self.cloud.election.leads(DELIVERER)
                if term is None:
                    queued = True  # a standby looks every flush interval, as it did
                    continue
                token = TERM.set(term)
                queued = True  # a pass that fails looks again after the flush interval
                try:
                    queued = bool(await self.deliver())
                except asyncio.CancelledError:
                    raise
                except Fenced as fenced:
                    log.warning("access log delivery: %s", fenced)
                    self.cloud.election.fenced(DELIVERER, term)
                except Exception:
                    log.exception("access log delivery failed")
                finally:
                    TERM.reset(token)
        finally:
            wakes.unregister(DELIVERER, self._woken)

    async def _next_pass(self, queued: bool) -> None:
        """The flush interval after the last pass if it found records; else the flush
        interval after a recorder's word (or ``DELIVERY_IDLE``): an idle cloud does not
        read the queue every few seconds."""
        flush = float(self.cloud.properties.get(props.LOG_FLUSH_INTERVAL))
        if not queued:
            timer = ticks.call_later(max(flush, DELIVERY_IDLE), self._recorded.set)
            try:
                await self._recorded.wait()
            finally:
                timer.cancel()
        self._recorded.clear()  # records from now on tell it again
        await ticks.sleep(flush)

    async def deliver(self) -> int:
        """One pass over the queued records; the number of source buckets it found."""
        async with self.cloud.sessions() as session:
            sources = list((await session.execute(select(S3LogRecord.bucket).distinct()))
                           .scalars())
        for source_name in sources:
            async with self.cloud.sessions() as session:
                records = list((await session.execute(select(S3LogRecord).where(
                    S3LogRecord.bucket == source_name).order_by(S3LogRecord.seq).limit(10000)
                )).scalars())
                source = await session.get(S3Bucket, source_name)
                config = loads(source.logging, {}) if source is not None else {}
                target = await session.get(S3Bucket, str(config.get("TargetBucket") or "")) \
                    if config else None
            if records and source is not None and target is not None \
                    and delivery_allowed(source, target):
                body = ("\n".join(r.line for r in records) + "\n").encode()
                await self._write(target, str(config.get("TargetPrefix") or ""), body)
            elif records:
                log.info("access log of %s: no permitted target, %d records dropped",
                         source_name, len(records))
            async with self.cloud.sessions() as session:
                await session.execute(delete(S3LogRecord).where(
                    S3LogRecord.seq.in_([r.seq for r in records])))
                await session.commit()
        return len(sources)

    async def _write(self, target: S3Bucket, prefix: str, body: bytes) -> None:
        key = prefix + datetime.now(UTC).strftime("%Y-%m-%d-%H-%M-%S-") \
            + secrets.token_hex(8).upper()
        await delivery.put_object(self.provider, target, key, body, "text/plain")


class LoggingProvider(S3Provider):
    """Put/GetBucketLogging; starts the recorder (every process) and the deliverer."""

    @operation("PutBucketLogging")
    async def put(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("BucketLoggingStatus") or {}
        enabled = status.get("LoggingEnabled")
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], "s3:PutBucketLogging")
            if enabled:
                target = await session.get(S3Bucket, str(enabled.get("TargetBucket") or ""))
                if target is None:
                    raise _invalid_target("The target bucket for logging does not exist")
                if target.region != bucket.region:
                    raise s3_error("CrossLocationLoggingProhibitted", "Cross S3 location logging "
                                   "not allowed.", 403, TargetBucketLocation=target.region)
                if not delivery_allowed(bucket, target):
                    raise _invalid_target(
                        "You must either provide the necessary permissions to the logging "
                        "service using a bucket policy or give the log-delivery group WRITE "
                        "and READ_ACP permissions to the target bucket")
                bucket.logging = dumps({"TargetBucket": target.name,
                                        "TargetPrefix": str(enabled.get("TargetPrefix") or "")})
            else:
                bucket.logging = None
            await session.commit()
        self.forget(bucket.name)
        return {}

    @operation("GetBucketLogging")
    async def get(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        async with self.cloud.sessions() as session:
            bucket = await self.owned_bucket(session, ctx, params["Bucket"], "s3:GetBucketLogging")
        return {"LoggingEnabled": loads(bucket.logging, {})} if bucket.logging else {}

    async def start(self) -> None:
        recorder = AccessLog(self)
        self.cloud.runtime[HOOK].access_log = recorder
        self.cloud.spawn(recorder.run_recorder(), "s3-access-log-recorder")
        self.cloud.spawn(recorder.run_deliverer(), "s3-access-log-deliverer")
