"""``cloudctl image bundle|unbundle|install``: image bundles from the command line.

``bundle`` writes a bundle (parts + manifest) to a directory like
euca-bundle-image; ``unbundle`` reverses it with the cloud's bundle key;
``install`` bundles, uploads to S3 and registers the image (RegisterImage), like
euca-install-image, printing progress per part (on stderr) and the image id.
Credentials: ``--access-key``/``--secret-key`` or the environment's AWS keys, else
the access key of ``--account``/``--user`` (default eucalyptus/admin) read from
the data directory. The signing certificate defaults to a per-user RSA bundle
certificate under ``<data>/ca/bundle-users/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudctl.config import Settings, load_settings

if TYPE_CHECKING:
    from cloudctl.pki import CertPaths

__all__ = ["add_parser"]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.data_dir)


def _progress(quiet: bool) -> Any:
    def report(what: str, done: int, total: int) -> None:
        if quiet:
            return
        if what == "upload":
            print(f"uploaded part {done}/{total}", file=sys.stderr, flush=True)
        elif total and (done == total or done % (64 * 1024 * 1024) < 1024 * 1024):
            print(f"bundling {done * 100 // total}% ({done >> 20}/{total >> 20} MiB)",
                  file=sys.stderr, flush=True)

    return report


def _user_keys(args: argparse.Namespace, settings: Settings) -> CertPaths:
    from cloudctl.images.keys import ensure_bundle_keypair
    from cloudctl.pki import CertPaths

    if args.cert and args.privatekey:
        return CertPaths(Path(args.cert), Path(args.privatekey))
    directory = settings.ca_dir / "bundle-users"
    name = f"{args.account}-{args.user}"
    return ensure_bundle_keypair(settings.ca_dir, CertPaths(directory / f"{name}.pem",
                                                            directory / f"{name}.key"), name)


def _cloud_cert(args: argparse.Namespace, settings: Settings) -> Path:
    from cloudctl.images.keys import ensure_cloud_bundle_cert

    return Path(args.ec2cert) if args.ec2cert else ensure_cloud_bundle_cert(settings.ca_dir).cert


def _credentials(args: argparse.Namespace, settings: Settings) -> tuple[str, str, str]:
    access = args.access_key or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = args.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access and secret:
        return access, secret, args.owner or ""
    from cloudctl.cli.adminclient import user_key

    key = user_key(settings, args.account, args.user)
    return key.access_key_id, key.secret_access_key, key.account_id


def cmd_bundle(args: argparse.Namespace) -> int:
    from cloudctl.images.bundle import bundle_image

    settings = _settings(args)
    keys = _user_keys(args, settings)
    result = bundle_image(Path(args.file), args.type, keys.cert, keys.key,
                          _cloud_cert(args, settings), Path(args.destination),
                          _progress(args.output == "json"), name=args.prefix,
                          user=args.owner or "", architecture=args.arch,
                          kernel_id=args.kernel or "", ramdisk_id=args.ramdisk or "")
    data = {"Manifest": str(result.manifest), "Parts": [str(p) for p in result.parts]}
    text = "\n".join([f"wrote {p}" for p in result.parts] + [f"wrote {result.manifest}"])
    _print(args, data, text)
    return 0


def cmd_unbundle(args: argparse.Namespace) -> int:
    from cloudctl.images.bundle import unbundle
    from cloudctl.images.keys import ensure_cloud_bundle_cert

    settings = _settings(args)
    key = Path(args.privatekey) if args.privatekey else ensure_cloud_bundle_cert(
        settings.ca_dir).key
    manifest = Path(args.manifest)
    from nodectl.bundle import parse_manifest

    name = parse_manifest(manifest.read_bytes()).name
    out = unbundle(manifest, None, key, Path(args.destination) / name)
    _print(args, {"File": str(out)}, f"wrote {out}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    from botocore.config import Config

    from cloudctl.cli.adminclient import botocore_session
    from cloudctl.images.install import install_image

    settings = _settings(args)
    access, secret, owner = _credentials(args, settings)
    session = botocore_session()
    common: dict[str, Any] = {"region_name": args.region, "aws_access_key_id": access,
                              "aws_secret_access_key": secret}
    endpoint = args.endpoint.rstrip("/")
    s3 = session.create_client("s3", endpoint_url=endpoint,
                               config=Config(s3={"addressing_style": "path"},
                                             signature_version="s3v4"), **common)
    ec2 = session.create_client("ec2", endpoint_url=endpoint, **common)
    iam = session.create_client("iam", endpoint_url=endpoint, **common)
    keys = _user_keys(args, settings)
    quiet = args.output == "json"
    result = install_image(
        file=Path(args.file), kind=args.type, bucket=args.bucket, name=args.name,
        cert=keys.cert, key=keys.key, cloud_cert=_cloud_cert(args, settings), s3=s3, ec2=ec2, iam=iam,
        user=owner, prefix=args.prefix, kernel_id=args.kernel or "",
        ramdisk_id=args.ramdisk or "", architecture=args.arch,
        description=args.description or "", progress=_progress(quiet),
        on_bundled=None if quiet else lambda b: print(
            f"bundled into {len(b.parts)} part(s)", file=sys.stderr, flush=True))
    _print(args, {"ImageId": result.image_id, "ImageLocation": result.image_location},
           f"IMAGE\t{result.image_id}")
    return 0


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if args.output == "json" else text)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", "-i", required=True, help="the image file")
    p.add_argument("--type", "-r", required=True, choices=("machine", "kernel", "ramdisk"))
    p.add_argument("--prefix", "-p", default=None, help="bundle file name prefix "
                                                        "(default: the file's name)")
    p.add_argument("--arch", default="x86_64")
    p.add_argument("--kernel", default=None, help="kernel image id (eki-...) for machine images")
    p.add_argument("--ramdisk", default=None, help="ramdisk image id (eri-...)")
    p.add_argument("--cert", "-c", default=None, help="your RSA certificate (signs the manifest)")
    p.add_argument("--privatekey", "-k", default=None, help="your RSA private key")
    p.add_argument("--ec2cert", default=None, help="the cloud's RSA bundle certificate "
                                                   "(default <data>/ca/cloud-bundle.pem)")
    p.add_argument("--owner", default=None, help="account id written into the manifest")
    p.add_argument("--account", default="eucalyptus")
    p.add_argument("--user", default="admin")


def add_parser(sub: Any) -> None:
    """Register ``image`` under the cloudctl subcommands."""
    image = sub.add_parser("image", help="image bundles (bundle, unbundle, install)")
    isub = image.add_subparsers(dest="image_command", required=True)

    p = isub.add_parser("bundle", help="bundle an image file (like euca-bundle-image)")
    _common(p)
    p.add_argument("--destination", "-d", default=".", help="output directory")
    p.set_defaults(func=cmd_bundle)

    p = isub.add_parser("unbundle", help="reassemble an image from a bundle")
    p.add_argument("--manifest", "-m", required=True)
    p.add_argument("--destination", "-d", default=".")
    p.add_argument("--privatekey", "-k", default=None,
                   help="default: the cloud's bundle key")
    p.set_defaults(func=cmd_unbundle)

    p = isub.add_parser("install", help="bundle, upload and register (like euca-install-image)")
    _common(p)
    p.add_argument("--bucket", "-b", required=True)
    p.add_argument("--name", "-n", required=True, help="the image name")
    p.add_argument("--description", default=None)
    p.add_argument("--region", default="eucalyptus")
    p.add_argument("--access-key", default=None)
    p.add_argument("--secret-key", default=None)
    p.set_defaults(func=cmd_install)
