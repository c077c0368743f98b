"""Apply nftables transactions inside a host namespace through libnftables.

Owns: handing a list of libnftables JSON commands to the kernel as one
transaction (all or nothing) in a given namespace, and reading back which of
netd's tables exist. Uses Debian's `python3-nftables` binding.
"""

from __future__ import annotations

import json
from typing import Any

from netd import netns


class NftError(RuntimeError):
    """libnftables rejected a transaction."""


def _ctx() -> Any:
    import nftables  # Debian python3-nftables; see scripts/deps/net.sh

    nft = nftables.Nftables()
    nft.set_json_output(True)
    nft.set_handle_output(False)
    return nft


def apply(ns: str, commands: list[dict[str, Any]]) -> None:
    """Run `commands` as one transaction in namespace `ns`; raise `NftError`."""
    doc = json.dumps({"nftables": commands})

    def run() -> tuple[int, str]:
        nft = _ctx()
        rc, _out, err = nft.cmd(doc)
        return int(rc), str(err)

    rc, err = netns.run_in(ns, run)
    if rc != 0:
        raise NftError(f"nft transaction failed in {ns}: {err.strip()[:2000]}")


def list_ruleset(ns: str, family: str, table: str) -> list[dict[str, Any]]:
    """The JSON objects of one table in `ns` (empty when the table is absent)."""

    def run() -> tuple[int, str]:
        nft = _ctx()
        rc, out, _err = nft.cmd(f"list table {family} {table}")
        return int(rc), str(out)

    rc, out = netns.run_in(ns, run)
    if rc != 0 or not out.strip():
        return []
    items: list[dict[str, Any]] = json.loads(out).get("nftables", [])
    return [i for i in items if "metainfo" not in i]
