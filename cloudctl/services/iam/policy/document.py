"""Policy documents: parsing, AWS validation and compilation into matchable statements.

Owns the grammar (Version, Id, Statement, Sid, Effect, Action/NotAction,
Resource/NotResource, Principal/NotPrincipal, Condition) and AWS's
MalformedPolicyDocument messages; the stricter rules AWS applies when a document is
stored live in ``grammar`` (``validate_policy`` runs them). ``compile_policy`` caches by document hash, so
the same text is parsed once per process; the cache is an LRU bounded both in
entries (``CACHE_SIZE``) and in policy text (``CACHE_BYTES``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from typing import Any, Literal

from cloudctl.services.iam.policy.conditions import Condition, substitute_glob
from cloudctl.services.iam.policy.errors import PolicyError
from cloudctl.services.iam.policy.grammar import check_input
from cloudctl.services.iam.policy.wildcard import compile_glob

PolicyKind = Literal["identity", "resource", "trust", "any"]
VERSIONS = ("2012-10-17", "2008-10-17")
SYNTAX = "Syntax errors in policy."
INVALID_JSON = "This policy contains invalid Json"  # CreateRole's word for it
_STATEMENT_FIELDS = {"sid", "effect", "action", "notaction", "resource", "notresource",
                     "principal", "notprincipal", "condition"}
_ACCOUNT_RE = re.compile(r"^\d{12}\Z")
_ROOT_RE = re.compile(r"^arn:aws:iam::(\d{12}):root\Z")
CACHE_SIZE = 4096  # compiled policies kept, at most...
CACHE_BYTES = 16 << 20  # ...and at most this much policy text between them


def _list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and not value:
        raise PolicyError(f"Policy statement must contain {what}.")
    raise PolicyError(SYNTAX)


class Pattern:
    """A list of wildcard patterns; ``variables`` when they hold ``${...}``."""

    __slots__ = ("literal", "globs", "any", "raw", "variables", "ignore_case")

    def __init__(self, patterns: list[str], ignore_case: bool, variables: bool) -> None:
        self.raw = patterns
        self.ignore_case = ignore_case
        self.any = "*" in patterns
        self.variables = variables and any("${" in p for p in patterns)
        plain = [p for p in patterns if "*" not in p and "?" not in p]
        wild = [p for p in patterns if p not in plain]
        self.literal = frozenset(p.lower() if ignore_case else p for p in plain)
        self.globs = [compile_glob(p, ignore_case) for p in wild]

    def match(self, value: str) -> bool:
        if self.any or value in self.literal:
            return True
        return any(g.match(value) for g in self.globs)

    def match_with(self, value: str, context: dict[str, list[str]]) -> bool:
        """``match`` with the request's policy variables, each matching literally."""
        for pattern in self.raw:
            glob = substitute_glob(pattern, context, self.ignore_case)
            if glob is not None and glob.match(value):
                return True
        return False


def principal_keys(value: Any) -> frozenset[str]:
    """The principal set a Principal element names, in the engine's key form."""
    if value == "*":
        return frozenset({"*"})
    if not isinstance(value, dict) or not value:
        raise PolicyError("Invalid principal in policy", "principal")
    keys: set[str] = set()
    for kind, names in value.items():
        for name in _list(names, "principals"):
            if kind == "AWS":
                if name == "*":
                    keys.add("*")
                    continue
                root = _ROOT_RE.match(name)
                if _ACCOUNT_RE.match(name):
                    keys.add("acct:" + name)
                elif root:
                    keys.add("acct:" + root.group(1))
                elif name.startswith("arn:aws:"):
                    keys.add(name)
                else:
                    raise PolicyError(f'Invalid principal in policy: "AWS":"{name}"',
                                      "principal")
            elif kind == "Service":
                keys.add("service:" + name)
            elif kind == "Federated":
                keys.add("federated:" + name)
            elif kind == "CanonicalUser":
                keys.add("canonical:" + name)
            else:
                raise PolicyError(f'Invalid principal in policy: "{kind}"', "principal")
    return frozenset(keys)


class Statement:
    """One compiled statement."""

    __slots__ = ("sid", "allow", "actions", "not_actions", "resources", "not_resources",
                 "principals", "not_principals", "conditions")

    def __init__(self, raw: dict[str, Any], index: int, kind: PolicyKind, variables: bool) -> None:
        fields = {k.lower(): v for k, v in raw.items()}
        if len(fields) != len(raw) or set(fields) - _STATEMENT_FIELDS:
            raise PolicyError(SYNTAX)
        sid = fields.get("sid", "")
        if not isinstance(sid, str):
            raise PolicyError(SYNTAX)
        self.sid = sid or str(index)
        effect = fields.get("effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"Invalid effect: {effect}" if effect is not None else SYNTAX)
        self.allow = effect == "Allow"
        if ("action" in fields) == ("notaction" in fields):
            raise PolicyError("Policy statement must contain actions." if "action" not in fields
                              else SYNTAX)
        self.actions = self.not_actions = None
        which = "action" if "action" in fields else "notaction"
        actions = _list(fields[which], "actions")
        for action in actions:
            if action != "*" and ":" not in action:  # the full rule: grammar.check_action
                raise PolicyError("Actions/Conditions must be prefaced by a vendor, "
                                  "e.g., iam, sdb, ec2, etc.", "action")
        compiled = Pattern([a.lower() for a in actions], True, False)
        if which == "action":
            self.actions = compiled
        else:
            self.not_actions = compiled
        self.resources: Pattern | None = None
        self.not_resources: Pattern | None = None
        has_res = "resource" in fields or "notresource" in fields
        if "resource" in fields and "notresource" in fields:
            raise PolicyError(SYNTAX)
        if not has_res:
            if kind not in ("trust", "any"):
                raise PolicyError("Policy statement must contain resources.")
        else:
            which = "resource" if "resource" in fields else "notresource"
            resources = _list(fields[which], "resources")
            for resource in resources:
                if resource != "*" and not resource.startswith("arn:"):
                    raise PolicyError(f'Resource {resource} must be in ARN format or "*".',
                                      "resource")
            pattern = Pattern(resources, False, variables)
            if which == "resource":
                self.resources = pattern
            else:
                self.not_resources = pattern
        self.principals: frozenset[str] | None = None
        self.not_principals: frozenset[str] | None = None
        if "principal" in fields and "notprincipal" in fields:
            raise PolicyError(SYNTAX)
        has_principal = "principal" in fields or "notprincipal" in fields
        if kind == "identity" and has_principal:
            raise PolicyError("Policy document should not specify a principal.", "principal")
        if kind in ("resource", "trust") and not has_principal:
            raise PolicyError("Missing required field Principal", "principal")
        if "principal" in fields:
            self.principals = principal_keys(fields["principal"])
        elif "notprincipal" in fields:
            self.not_principals = principal_keys(fields["notprincipal"])
        self.conditions: list[Condition] = []
        block = fields.get("condition")
        if block is not None:
            if not isinstance(block, dict):
                raise PolicyError(SYNTAX)
            for operator, entries in block.items():
                if not isinstance(entries, dict):
                    raise PolicyError(SYNTAX)
                for key, values in entries.items():
                    if isinstance(values, bool | int | float) and not isinstance(values, str):
                        values = [json.dumps(values)]
                    elif isinstance(values, list):
                        values = [json.dumps(v) if isinstance(v, bool | int | float) else v
                                  for v in values]
                    self.conditions.append(Condition(operator, key, _list(values, "conditions")))

    def matches_action(self, action: str) -> bool:
        if self.actions is not None:
            return self.actions.match(action)
        assert self.not_actions is not None
        return not self.not_actions.match(action)

    def matches_resource(self, resource: str, context: dict[str, list[str]]) -> bool:
        pattern = self.resources if self.resources is not None else self.not_resources
        if pattern is None:
            return True
        hit = pattern.match_with(resource, context) if pattern.variables else pattern.match(resource)
        return hit if self.resources is not None else not hit

    def matches_principal(self, keys: frozenset[str]) -> bool:
        if self.principals is not None:
            return not self.principals.isdisjoint(keys)
        if self.not_principals is not None:
            return self.not_principals.isdisjoint(keys)
        return True


class CompiledPolicy:
    """A validated policy: its statements and the digest it is cached under."""

    __slots__ = ("digest", "statements", "version", "document")

    def __init__(self, digest: str, statements: list[Statement], version: str,
                 document: dict[str, Any]) -> None:
        self.digest = digest
        self.statements = statements
        self.version = version
        self.document = document


class _Cache:
    """Compiled policies by (digest, kind): an LRU bounded in entries and in text."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple[str, str], tuple[CompiledPolicy, int]] = OrderedDict()
        self.size = 0

    def get(self, key: tuple[str, str]) -> CompiledPolicy | None:
        hit = self.entries.get(key)
        if hit is None:
            return None
        self.entries.move_to_end(key)
        return hit[0]

    def put(self, key: tuple[str, str], compiled: CompiledPolicy, size: int) -> None:
        if size > CACHE_BYTES // 16:
            return  # no one document takes a large share of the cache
        self.entries[key] = (compiled, size)
        self.size += size
        while len(self.entries) > CACHE_SIZE or self.size > CACHE_BYTES:
            _, (_, dropped) = self.entries.popitem(last=False)
            self.size -= dropped


_cache = _Cache()


def _parse(text: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        document = json.loads(text)
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested too deep
        raise PolicyError(SYNTAX) from None
    if not isinstance(document, dict):
        raise PolicyError(SYNTAX)
    return document


def compile_policy(source: str | dict[str, Any] | CompiledPolicy,
                   kind: PolicyKind = "any") -> CompiledPolicy:
    """Validate and compile ``source`` (cached by hash of the text and kind)."""
    if isinstance(source, CompiledPolicy):
        return source
    text = source if isinstance(source, str) else json.dumps(source, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    key = (digest, kind)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    document = _parse(source)
    compiled = _compile(document, digest, kind)
    _cache.put(key, compiled, len(text))
    return compiled


def _compile(document: dict[str, Any], digest: str, kind: PolicyKind) -> CompiledPolicy:
    unknown = {k for k in document if k not in ("Version", "Id", "Statement")}
    if unknown:
        raise PolicyError(SYNTAX)
    version = document.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError("The policy failed legacy parsing")
    raw = document.get("Statement")
    if raw is None:
        raise PolicyError(SYNTAX)
    statements_raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements_raw, list) or not statements_raw:
        raise PolicyError(SYNTAX)
    statements = []
    sids: set[str] = set()
    for index, item in enumerate(statements_raw):
        if not isinstance(item, dict):
            raise PolicyError(SYNTAX)
        statement = Statement(item, index, kind, version == "2012-10-17")
        if "Sid" in item:
            if statement.sid in sids:
                raise PolicyError("Statement IDs (SID) in a single policy must be unique.")
            sids.add(statement.sid)
        statements.append(statement)
    return CompiledPolicy(digest, statements, version, document)


def validate_policy(text: str, kind: PolicyKind = "identity",
                    max_size: int | None = None) -> CompiledPolicy:
    """Compile ``text`` as AWS would on input; raises ``PolicyError`` with AWS's message."""
    if max_size is not None and len(text) > max_size:
        raise PolicyError(f"Cannot exceed quota for PolicySize: {max_size}")
    if not text.strip():
        raise PolicyError(SYNTAX)
    if kind != "any":
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise PolicyError(INVALID_JSON if kind == "trust" else SYNTAX) from None
        check_input(document, kind)
    return compile_policy(text, kind)
