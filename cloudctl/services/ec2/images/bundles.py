"""Bundled images (``bucket/prefix.manifest.xml``): reading them at RegisterImage and
handing them to a node at launch.

RegisterImage (``manifest_facts``) reads the manifest through S3's own
``GetObject`` with the caller's request context, so S3 decides whether the caller
may read it (AWS requires read access to the manifest). It checks that the
manifest parses, that it names no URL (``<get-url>``: a manifest is tenant data and
the cloud alone says where parts are fetched from), that its ``<signature>``
verifies (as Eucalyptus: RSA-SHA1 over ``<machine_configuration>`` + ``<image>`` as
written, with one of the account's active IAM signing certificates, so nothing the
signature covers -- part names, part and image digests, wrapped keys -- can be
changed by anyone without the bundler's key), that the cloud's bundle key
(``<data>/ca/cloud-bundle.key``) unwraps its AES key, and that every part exists;
the image kind comes from the manifest's ``<type>``, kernel and ramdisk ids from
``<machine_configuration>`` (Eucalyptus writes ``true`` there for kernel/ramdisk
bundles: ignored).

At launch (``node_artifact``) the controller resolves a ``bucket/key`` artifact into
something the node can fetch. Decision: the all-in-one node gets a ``file://`` URL.
The controller copies the manifest and its parts out of the object store (through
S3's ``GetObject``, acting as the image owner's account) into
``<data>/bundles/<image-id>/`` once per image, then the node fetches the manifest
and parts beside it (never a URL from the manifest), decrypts with the cloud bundle
key and caches the image like any other. The copy is published atomically (temp directory, then rename) and is
reused for every later launch; ``DeregisterImage`` leaves it (a sweep can remove
directories of images that no longer exist). Remote nodes would need a presigned
GET URL per part in a download manifest instead: not done yet.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudctl.auth.credentials import Credential
from cloudctl.errors import AwsError
from cloudctl.protocol.wire import WireRequest
from cloudctl.server.context import RequestContext
from nodectl.bundle import (
    BundleError,
    BundleManifest,
    decrypt_key,
    parse_manifest,
    verify_signature,
)
from nodectl.client import Artifact

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud

MANIFEST_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class ManifestFacts:
    """What RegisterImage learns from a bundle manifest."""

    kind: str
    kernel_id: str | None
    ramdisk_id: str | None
    architecture: str
    size: int
    parts: int


def split_location(location: str) -> tuple[str, str]:
    """``bucket/key`` -> (bucket, key); InvalidManifest otherwise."""
    bucket, _, key = location.strip("/").partition("/")
    if not bucket or not key or not key.endswith(".manifest.xml"):
        raise AwsError("The manifest location must be bucket/prefix.manifest.xml",
                       code="InvalidManifest")
    return bucket, key


def is_bucket_location(url: str) -> bool:
    """True for ``bucket/key.manifest.xml`` (as registered), False for fetchable URLs."""
    return bool(url) and "://" not in url


async def _get_object(cloud: Cloud, ctx: RequestContext, bucket: str, key: str,
                      limit: int | None = None) -> bytes:
    handler = cloud.handler("s3", "GetObject")
    if handler is None:
        raise AwsError("This cloud runs no object storage to read bundles from.",
                       code="InvalidManifest")
    out: dict[str, Any] = await handler(ctx, {"Bucket": bucket, "Key": key})
    body = out.get("Body", b"")
    if isinstance(body, bytes):
        return body
    data = bytearray()
    try:
        async for chunk in body:
            data += chunk
            if limit is not None and len(data) > limit:
                raise AwsError(f"{bucket}/{key} is too large for a manifest",
                               code="InvalidManifest")
    finally:
        close = getattr(body, "aclose", None)
        if close is not None:
            await close()
    return bytes(data)


def _as_manifest_error(exc: AwsError, location: str) -> AwsError:
    if exc.code in ("NoSuchKey", "NoSuchBucket", "AccessDenied"):
        return AwsError(f"Cannot read the manifest {location}: {exc.code}",
                        code="InvalidManifest")
    return exc


def cloud_bundle_key(cloud: Cloud) -> bytes | None:
    path = cloud.settings.ca_dir / "cloud-bundle.key"
    return path.read_bytes() if path.exists() else None


async def manifest_facts(cloud: Cloud, ctx: RequestContext, location: str) -> ManifestFacts:
    """Read and check a bundle manifest for RegisterImage (AWS errors on failure)."""
    bucket, key = split_location(location)
    try:
        text = await _get_object(cloud, ctx, bucket, key, MANIFEST_LIMIT)
    except AwsError as exc:
        raise _as_manifest_error(exc, location) from None
    try:
        manifest = parse_manifest(text)
    except ValueError as exc:  # BundleError, or int() of a bad number in parse_manifest
        raise AwsError(f"{location} is not a bundle manifest: {exc}",
                       code="InvalidManifest") from None
    refuse_urls(manifest, location)
    await _check_signature(cloud, ctx.require_account(), text, location)
    private = cloud_bundle_key(cloud)
    if private is not None:
        try:
            decrypt_key(manifest, private)
        except BundleError:
            raise AwsError(f"The bundle {location} was not made for this cloud's certificate "
                           "(its key cannot be unwrapped with the cloud bundle key).",
                           code="InvalidManifest") from None
    await _check_parts(cloud, ctx, bucket, key, manifest)
    kind = manifest.kind if manifest.kind in ("machine", "kernel", "ramdisk") else "machine"

    def ref(value: str) -> str | None:
        return value if value and value.lower() != "true" else None

    return ManifestFacts(kind=kind, kernel_id=ref(manifest.kernel_id),
                         ramdisk_id=ref(manifest.ramdisk_id),
                         architecture=manifest.architecture, size=manifest.image_size,
                         parts=len(manifest.parts))


def refuse_urls(manifest: BundleManifest, location: str) -> None:
    """InvalidManifest when a part names a URL (``<get-url>``) instead of a file name."""
    if any(part.get_url for part in manifest.parts):
        raise AwsError(f"The manifest {location} names download URLs (<get-url>); a bundle "
                       "manifest names its parts by file name only.", code="InvalidManifest")


async def _check_signature(cloud: Cloud, account_id: str, text: bytes, location: str) -> None:
    from cloudctl.services.iam.api import active_signing_certificates

    for cert in await active_signing_certificates(cloud, account_id):
        try:
            verify_signature(text, cert)
            return
        except (BundleError, ValueError):
            continue
    raise AwsError(f"The signature of the manifest {location} does not verify with a signing "
                   "certificate of this account (IAM UploadSigningCertificate).",
                   code="InvalidManifest")


async def _check_parts(cloud: Cloud, ctx: RequestContext, bucket: str, key: str,
                       manifest: BundleManifest) -> None:
    handler = cloud.handler("s3", "HeadObject")
    if handler is None:
        return
    prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    for part in manifest.parts:
        try:
            await handler(ctx, {"Bucket": bucket, "Key": prefix + part.filename})
        except AwsError as exc:
            raise AwsError(f"The bundle part {bucket}/{prefix}{part.filename} cannot be read "
                           f"({exc.code}).", code="InvalidManifest") from None


def owner_context(cloud: Cloud, account_id: str, region: str) -> RequestContext:
    """A request context acting as ``account_id``'s root, for the controller's own reads."""
    credential = Credential(access_key_id="cloud-internal", secret_access_key="",
                            account_id=account_id, principal_arn=f"arn:aws:iam::{account_id}:root",
                            user_id=account_id, principal_type="root",
                            attributes={"account_admin": True, "internal": True})
    wire = WireRequest(method="GET", path="/", raw_query="", headers={})
    return RequestContext(request_id=str(uuid.uuid4()), service="s3", operation="GetObject",
                          region=region, credential=credential, wire=wire,
                          source_ip="127.0.0.1")


_locks: dict[str, asyncio.Lock] = {}


async def materialize(cloud: Cloud, image_id: str, account_id: str, region: str,
                      location: str) -> Path:
    """The manifest path of a local copy of the bundle (made once per image)."""
    bucket, key = split_location(location)
    root = Path(cloud.settings.data_dir) / "bundles"
    dest = root / image_id
    manifest_name = key.rsplit("/", 1)[-1]
    if (dest / manifest_name).exists():
        return dest / manifest_name
    lock = _locks.setdefault(image_id, asyncio.Lock())
    async with lock:
        if (dest / manifest_name).exists():
            return dest / manifest_name
        ctx = owner_context(cloud, account_id, region)
        text = await _get_object(cloud, ctx, bucket, key, MANIFEST_LIMIT)
        manifest = parse_manifest(text)
        refuse_urls(manifest, location)  # registered before manifests were checked
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".{image_id}.tmp{os.getpid()}"
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        tmp.mkdir()
        try:
            prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
            for part in manifest.parts:
                await _copy_object(cloud, ctx, bucket, prefix + part.filename,
                                   tmp / part.filename)
            (tmp / manifest_name).write_bytes(text)
            await asyncio.to_thread(shutil.rmtree, dest, True)
            tmp.rename(dest)
        finally:
            await asyncio.to_thread(shutil.rmtree, tmp, True)
    return dest / manifest_name


async def _copy_object(cloud: Cloud, ctx: RequestContext, bucket: str, key: str,
                       out: Path) -> None:
    handler = cloud.handler("s3", "GetObject")
    assert handler is not None
    result: dict[str, Any] = await handler(ctx, {"Bucket": bucket, "Key": key})
    body = result.get("Body", b"")
    with open(out, "wb") as f:
        if isinstance(body, bytes):
            f.write(body)
            return
        try:
            async for chunk in body:
                await asyncio.to_thread(f.write, chunk)
        finally:
            close = getattr(body, "aclose", None)
            if close is not None:
                await close()


async def node_artifact(cloud: Cloud, artifact: Artifact, account_id: str,
                        region: str) -> Artifact:
    """``artifact`` with a bundle location the node can fetch (see the module docstring)."""
    if not is_bucket_location(artifact.bundle_manifest_url):
        return artifact
    path = await materialize(cloud, artifact.image_id, account_id, region,
                             artifact.bundle_manifest_url)
    return replace(artifact, bundle_manifest_url=path.resolve().as_uri())
