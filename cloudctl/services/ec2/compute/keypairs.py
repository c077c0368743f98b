"""EC2 key pairs: Create/Import/Describe/DeleteKeyPair and the ``ec2_key_pairs`` table.

Fingerprints follow AWS: an RSA key created here is the SHA-1 of its PKCS#8 DER
private key, an imported RSA key the MD5 of its DER public key, an ED25519 key the
base64 SHA-256 of its OpenSSH public key blob. The private key is returned once
and never stored. ``find_key_pair`` is the public lookup for RunInstances.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from sqlalchemy import String, Text, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cloudctl.db.base import Base, RegionalMixin, UtcDateTime, utcnow
from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import Provider, Result, operation
from cloudctl.services import ids
from cloudctl.services.ec2.shared import tags
from cloudctl.services.ec2.shared.filters import apply_filters

NAME_RE = re.compile(r"^[\x20-\x7e]{1,255}\Z")


class KeyPair(RegionalMixin, Base):
    __tablename__ = "ec2_key_pairs"
    __table_args__ = (UniqueConstraint("account_id", "region", "name"),)

    key_pair_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    key_type: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _openssh_public(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def _ed25519_fingerprint(key: ed25519.Ed25519PublicKey) -> str:
    blob = base64.b64decode(_openssh_public(key).split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode()


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(value: int) -> bytes:
    raw = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return _ssh_string(raw)


def _ppk(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, comment: str) -> str:
    """PuTTY private key file, format 3, unencrypted."""
    public_line = _openssh_public(key.public_key())
    algorithm = public_line.split()[0]
    public_blob = base64.b64decode(public_line.split()[1])
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        private_blob = (_mpint(numbers.d) + _mpint(numbers.p) + _mpint(numbers.q)
                        + _mpint(numbers.iqmp))
    else:
        private_blob = _ssh_string(key.private_bytes(serialization.Encoding.Raw,
                                                     serialization.PrivateFormat.Raw,
                                                     serialization.NoEncryption()))
    mac_data = (_ssh_string(algorithm.encode()) + _ssh_string(b"none")
                + _ssh_string(comment.encode()) + _ssh_string(public_blob)
                + _ssh_string(private_blob))
    mac = hmac.new(b"", mac_data, hashlib.sha256).hexdigest()

    def lines(blob: bytes) -> list[str]:
        text = base64.b64encode(blob).decode()
        return [text[i:i + 64] for i in range(0, len(text), 64)]

    pub, priv = lines(public_blob), lines(private_blob)
    return "\n".join([f"PuTTY-User-Key-File-3: {algorithm}", "Encryption: none",
                      f"Comment: {comment}", f"Public-Lines: {len(pub)}", *pub,
                      f"Private-Lines: {len(priv)}", *priv, f"Private-MAC: {mac}"]) + "\n"


def create_material(key_type: str, key_format: str, name: str) -> tuple[str, str, str]:
    """(private key text, OpenSSH public key, fingerprint) of a new key."""
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
        fingerprint = _colon_hex(hashlib.sha1(pkcs8).digest())  # AWS format
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    else:
        key = ed25519.Ed25519PrivateKey.generate()
        fingerprint = _ed25519_fingerprint(key.public_key())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    private = _ppk(key, name) if key_format == "ppk" else pem
    return private.rstrip("\n"), _openssh_public(key.public_key()), fingerprint


def import_material(material: bytes) -> tuple[str, str, str]:
    """(key type, OpenSSH public key, fingerprint) of imported public key material."""
    text = material.decode("utf-8", "replace").strip()
    try:
        if text.startswith("---- BEGIN SSH2 PUBLIC KEY ----"):  # RFC 4716
            body = [ln for ln in text.splitlines()[1:-1]
                    if ":" not in ln and not ln.startswith(" ")]
            blob = "".join(body).strip()
            decoded = base64.b64decode(blob)
            algorithm = decoded[4:4 + struct.unpack(">I", decoded[:4])[0]]
            text = f"{algorithm.decode()} {blob}"
        if text.startswith("-----BEGIN"):
            key: Any = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_ssh_public_key(" ".join(text.split()[:2]).encode())
    except (ValueError, IndexError, TypeError, struct.error):
        raise AwsError("Key is not in valid OpenSSH public key format",
                       code="InvalidKey.Format") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 1024 or key.key_size > 16384:
            raise AwsError("Key is not in valid OpenSSH public key format",
                           code="InvalidKey.Format")
        der = key.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return "rsa", _openssh_public(key), _colon_hex(hashlib.md5(der).digest())
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", _openssh_public(key), _ed25519_fingerprint(key)
    raise AwsError("Key is not in valid OpenSSH public key format", code="InvalidKey.Format")


async def find_key_pair(session: AsyncSession, account_id: str, region: str,
                        name: str) -> KeyPair | None:
    """The account's key pair called ``name`` in ``region`` (for RunInstances)."""
    return (await session.execute(select(KeyPair).where(
        KeyPair.account_id == account_id, KeyPair.region == region,
        KeyPair.name == name))).scalar_one_or_none()


async def _existing(session: AsyncSession, account_id: str, region: str,
                    key_ids: list[str]) -> set[str]:
    rows = await session.execute(select(KeyPair.key_pair_id).where(
        KeyPair.account_id == account_id, KeyPair.region == region,
        KeyPair.key_pair_id.in_(key_ids)))
    return {r[0] for r in rows}


tags.register_resource("key", _existing)


def _check_name(name: Any) -> str:
    if not name:
        raise AwsError("The request must contain the parameter KeyName", code="MissingParameter")
    if not NAME_RE.match(str(name)):
        raise AwsError(f"Value ({name}) for parameter keyName is invalid.",
                       code="InvalidParameterValue")
    return str(name)


class KeyPairsProvider(Provider):
    service = "ec2"

    async def _store(self, ctx: RequestContext, params: dict[str, Any], name: str,
                     key_type: str, public: str, fingerprint: str) -> KeyPair:
        account = ctx.require_account()
        tags.check_tag_specifications(params.get("TagSpecifications"), ["key-pair"])
        async with self.cloud.sessions() as session, session.begin():
            if await find_key_pair(session, account, ctx.region, name) is not None:
                raise AwsError(f"The keypair '{name}' already exists.",
                               code="InvalidKeyPair.Duplicate")
            row = KeyPair(key_pair_id=ids.resource_id("key"), account_id=account,
                          region=ctx.region, name=name, key_type=key_type,
                          fingerprint=fingerprint, public_key=public, created_at=utcnow())
            session.add(row)
            await tags.apply_tag_specifications(self.cloud, session, account, ctx.region,
                                                "key-pair", [row.key_pair_id],
                                                params.get("TagSpecifications"))
        return row

    async def _tag_list(self, ctx: RequestContext, key_id: str) -> list[dict[str, str]]:
        async with self.cloud.sessions() as session:
            found = await tags.tags_for(session, ctx.require_account(), ctx.region, [key_id])
        return found.get(key_id, [])

    @operation("CreateKeyPair")
    async def create_key_pair(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = _check_name(params.get("KeyName"))
        key_type = params.get("KeyType") or "rsa"
        key_format = params.get("KeyFormat") or "pem"
        if key_type not in ("rsa", "ed25519"):
            raise AwsError(f"Value ({key_type}) for parameter keyType is invalid.",
                           code="InvalidParameterValue")
        if key_format not in ("pem", "ppk"):
            raise AwsError(f"Value ({key_format}) for parameter keyFormat is invalid.",
                           code="InvalidParameterValue")
        private, public, fingerprint = create_material(key_type, key_format, name)
        row = await self._store(ctx, params, name, key_type, public, fingerprint)
        return {"KeyName": row.name, "KeyFingerprint": row.fingerprint, "KeyMaterial": private,
                "KeyPairId": row.key_pair_id, "Tags": await self._tag_list(ctx, row.key_pair_id)}

    @operation("ImportKeyPair")
    async def import_key_pair(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        name = _check_name(params.get("KeyName"))
        material = params.get("PublicKeyMaterial")
        if not material:
            raise AwsError("The request must contain the parameter PublicKeyMaterial",
                           code="MissingParameter")
        if isinstance(material, str):
            material = material.encode()
        key_type, public, fingerprint = import_material(bytes(material))
        row = await self._store(ctx, params, name, key_type, public, fingerprint)
        return {"KeyName": row.name, "KeyFingerprint": row.fingerprint,
                "KeyPairId": row.key_pair_id, "Tags": await self._tag_list(ctx, row.key_pair_id)}

    @operation("DescribeKeyPairs")
    async def describe_key_pairs(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        names = list(params.get("KeyNames") or [])
        key_ids = list(params.get("KeyPairIds") or [])
        async with self.cloud.sessions() as session:
            rows = list((await session.execute(select(KeyPair).where(
                KeyPair.account_id == account, KeyPair.region == ctx.region).order_by(
                KeyPair.name))).scalars().all())
            tag_map = await tags.tags_for(session, account, ctx.region,
                                          [r.key_pair_id for r in rows])
        for wanted, attr in ((names, "name"), (key_ids, "key_pair_id")):
            if wanted:
                known = {getattr(r, attr) for r in rows}
                for value in wanted:
                    if value not in known:
                        raise AwsError(f"The key pair '{value}' does not exist",
                                       code="InvalidKeyPair.NotFound")
                rows = [r for r in rows if getattr(r, attr) in wanted]
        rows = apply_filters(rows, params.get("Filters"), {
            "key-name": lambda r: [r.name],
            "key-pair-id": lambda r: [r.key_pair_id],
            "fingerprint": lambda r: [r.fingerprint],
            "key-type": lambda r: [r.key_type],
            **tags.filter_extractors(lambda r: tag_map.get(r.key_pair_id, [])),
        })
        include_public = bool(params.get("IncludePublicKey"))
        out = []
        for r in rows:
            item: dict[str, Any] = {"KeyPairId": r.key_pair_id, "KeyFingerprint": r.fingerprint,
                                    "KeyName": r.name, "KeyType": r.key_type,
                                    "Tags": tag_map.get(r.key_pair_id, []),
                                    "CreateTime": r.created_at}
            if include_public:
                item["PublicKey"] = r.public_key
            out.append(item)
        return {"KeyPairs": out}

    @operation("DeleteKeyPair")
    async def delete_key_pair(self, ctx: RequestContext, params: dict[str, Any]) -> Result:
        account = ctx.require_account()
        name, key_id = params.get("KeyName"), params.get("KeyPairId")
        if not name and not key_id:
            raise AwsError("The request must contain the parameter KeyName or KeyPairId",
                           code="MissingParameter")
        async with self.cloud.sessions() as session, session.begin():
            query = select(KeyPair).where(KeyPair.account_id == account,
                                          KeyPair.region == ctx.region)
            query = query.where(KeyPair.key_pair_id == key_id) if key_id else query.where(
                KeyPair.name == name)
            row = (await session.execute(query)).scalar_one_or_none()
            if row is None:
                if key_id:
                    raise AwsError(f"The key pair '{key_id}' does not exist",
                                   code="InvalidKeyPair.NotFound")
                return {"Return": True}
            await tags.delete_resource_tags(session, account, ctx.region, [row.key_pair_id])
            await session.delete(row)
        return {"Return": True, "KeyPairId": row.key_pair_id}
