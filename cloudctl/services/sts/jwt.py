"""OpenID Connect ID tokens: JWT (JWS compact) parsing and RS256/ES256 verification.

The issuer's keys come from its JWKS, found through
``<issuer>/.well-known/openid-configuration``; both are fetched only from the
scheme, host and port of the provider URL registered in IAM (a ``jwks_uri``
elsewhere is refused), without redirects, with a timeout and a size limit, and
cached for a few minutes per URL (fetched again when a token names an unknown
``kid``). HTTPS is verified against the system's trust store.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

FETCH_TIMEOUT = 5.0
MAX_DOCUMENT = 256 * 1024
CACHE_SECONDS = 300.0
_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}


class TokenError(Exception):
    """The token is malformed or its signature does not verify."""


class FetchError(Exception):
    """The issuer's configuration or keys could not be fetched."""


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, binascii.Error):
        raise TokenError("malformed token encoding") from None


def _int(value: Any) -> int:
    if not isinstance(value, str):
        raise TokenError("malformed key")
    return int.from_bytes(_b64(value), "big")


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signed bytes, signature) of a compact JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JSON web token")
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
    except ValueError:
        raise TokenError("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("malformed token")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), _b64(parts[2])


def _public_key(jwk: dict[str, Any]) -> Any:
    if jwk.get("kty") == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk.get("e")), _int(jwk.get("n"))).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(_int(jwk.get("x")), _int(jwk.get("y")),
                                             ec.SECP256R1()).public_key()
    return None


def verify_signature(header: dict[str, Any], signed: bytes, signature: bytes,
                     keys: list[dict[str, Any]]) -> bool:
    alg = header.get("alg")
    kid = header.get("kid")
    wanted = {"RS256": "RSA", "ES256": "EC"}.get(str(alg))
    if wanted is None:
        raise TokenError(f"unsupported algorithm {alg}")
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("kty") != wanted:
            continue
        if kid is not None and jwk.get("kid") != kid:
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
            continue
        try:
            key = _public_key(jwk)
        except (TokenError, ValueError):
            continue
        try:
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                return True
            if isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
                der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                           int.from_bytes(signature[32:], "big"))
                key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
                return True
        except InvalidSignature:
            continue
    return False


async def _get_json(session: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise FetchError(f"{url} answered {response.status}")
            body = await response.content.read(MAX_DOCUMENT + 1)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise FetchError(f"{url}: {type(exc).__name__}") from None
    if len(body) > MAX_DOCUMENT:
        raise FetchError(f"{url}: document too large")
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"{url}: not JSON") from None


async def issuer_keys(provider_url: str, refresh: bool = False) -> list[dict[str, Any]]:
    """The JWKS keys of the issuer at ``provider_url`` (cached)."""
    now = time.monotonic()
    hit = _cache.get(provider_url)
    if hit is not None and hit[0] > now and not refresh:
        return hit[1]
    base = urlsplit(provider_url)
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        config = await _get_json(session, provider_url + "/.well-known/openid-configuration")
        jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
        if not isinstance(jwks_uri, str):
            raise FetchError("the configuration has no jwks_uri")
        where = urlsplit(jwks_uri)
        if (where.scheme, where.netloc) != (base.scheme, base.netloc):
            raise FetchError("jwks_uri is not on the provider's host")
        jwks = await _get_json(session, jwks_uri)
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise FetchError("the JWKS has no keys")
    if len(_cache) > 1000:
        _cache.clear()
    _cache[provider_url] = (now + CACHE_SECONDS, keys)
    return keys
