"""Install an image the way euca-install-image did: bundle, upload, register.

``install_image`` bundles a file (``cloudctl.images.bundle``), uploads the parts
and then the manifest to an S3 bucket (``put_object``, creating the bucket if it
is missing), and calls EC2 ``RegisterImage`` with ``ImageLocation`` =
``<bucket>/<prefix>.manifest.xml``. It talks only through botocore clients the
caller hands in (the cloud's S3 and EC2 endpoints, the AWS API shapes), so it
works against any implementation of those APIs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudctl.images.bundle import BundleResult, Progress, bundle_image

__all__ = ["InstallResult", "install_image", "register_signing_certificate", "upload_bundle"]


@dataclass(frozen=True)
class InstallResult:
    image_id: str
    image_location: str
    parts: int


def _ensure_bucket(s3: Any, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        s3.create_bucket(Bucket=bucket)


def upload_bundle(s3: Any, bundle: BundleResult, bucket: str,
                  progress: Progress | None = None, key_prefix: str = "") -> str:
    """Upload the parts, then the manifest (last, so a listed manifest is complete).

    Returns the image location ``bucket/[key_prefix]name.manifest.xml``.
    """
    _ensure_bucket(s3, bucket)
    total = len(bundle.parts)
    for i, part in enumerate(bundle.parts, start=1):
        with open(part, "rb") as body:
            s3.put_object(Bucket=bucket, Key=f"{key_prefix}{part.name}", Body=body)
        if progress is not None:
            progress("upload", i, total)
    manifest_key = f"{key_prefix}{bundle.manifest.name}"
    with open(bundle.manifest, "rb") as body:
        s3.put_object(Bucket=bucket, Key=manifest_key, Body=body,
                      ContentType="application/xml")
    return f"{bucket}/{manifest_key}"


def register_signing_certificate(iam: Any, cert: Path) -> None:
    """Register ``cert`` as the caller's IAM signing certificate (the cloud verifies
    manifest signatures with the account's signing certificates); already there: fine."""
    from botocore.exceptions import ClientError

    try:
        iam.upload_signing_certificate(CertificateBody=cert.read_text())
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "DuplicateCertificate":
            raise


def install_image(*, file: Path, kind: str, bucket: str, name: str, cert: Path, key: Path,
                  cloud_cert: Path, s3: Any, ec2: Any, iam: Any = None, user: str = "",
                  prefix: str | None = None, kernel_id: str = "", ramdisk_id: str = "",
                  architecture: str = "x86_64", description: str = "",
                  work_dir: Path | None = None,
                  progress: Progress | None = None,
                  on_bundled: Callable[[BundleResult], None] | None = None) -> InstallResult:
    """Bundle ``file``, upload it to ``bucket`` and register it; the new image id.

    With ``iam``, ``cert`` is first registered as the caller's signing certificate.
    """
    if iam is not None:
        register_signing_certificate(iam, cert)
    with tempfile.TemporaryDirectory(prefix="cloudctl-bundle-", dir=work_dir) as tmp:
        bundle = bundle_image(file, kind, cert, key, cloud_cert, Path(tmp), progress,
                              name=prefix or file.name, user=user, architecture=architecture,
                              kernel_id=kernel_id if kind == "machine" else "",
                              ramdisk_id=ramdisk_id if kind == "machine" else "")
        if on_bundled is not None:
            on_bundled(bundle)
        location = upload_bundle(s3, bundle, bucket, progress)
    params: dict[str, Any] = {"ImageLocation": location, "Name": name,
                              "Architecture": architecture}
    if description:
        params["Description"] = description
    if kind == "machine":
        if kernel_id:
            params["KernelId"] = kernel_id
        if ramdisk_id:
            params["RamdiskId"] = ramdisk_id
        params["VirtualizationType"] = "paravirtual"
    resp = ec2.register_image(**params)
    return InstallResult(image_id=str(resp["ImageId"]), image_location=location,
                         parts=len(bundle.parts))
