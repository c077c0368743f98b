"""The policy document corpus (tests/data/policies): valid and invalid documents per kind.

``valid/<name>.json``: ``{"kinds": [...], "document": ...}`` — accepted as each kind.
``invalid/<name>.json``: ``{"expect": {kind: message}, "document": ...}`` — refused
with that message (IAM's MalformedPolicyDocument text for ``identity`` and
``trust``, S3's MalformedPolicy text for ``resource``). A ``document`` that is a
string is the policy text itself (not JSON, for instance).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "data" / "policies"
BUCKET = "corpus-bucket"  # the bucket the resource policies name


def text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def cases(which: str) -> list[tuple[str, str, Any]]:
    """``(name, kind, expected)`` for every case of ``valid`` or ``invalid`` documents;
    ``expected`` is None for valid ones, else the message."""
    out: list[tuple[str, str, Any]] = []
    for path in sorted((CORPUS / which).glob("*.json")):
        case = json.loads(path.read_text())
        if which == "valid":
            out += [(path.stem, kind, None) for kind in case["kinds"]]
        else:
            out += [(path.stem, kind, message) for kind, message in case["expect"].items()]
    return out


def document(which: str, name: str) -> str:
    return text(json.loads((CORPUS / which / f"{name}.json").read_text())["document"])
