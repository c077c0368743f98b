"""What a resource type is to the engine: create, wait for readiness, update, delete.

A type is a thin adapter over its service's ``api`` module, acting as the stack's
principal (``Act.caller``). Every step must be safe to repeat after a crash at any
point: creation is idempotent by ``Act.token`` (a ClientToken, or a physical name
derived from it; on a resumed attempt an existing resource of that name is adopted),
deletion of something already gone succeeds.

Must not: read any table (only ``api`` functions), keep state in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from cloudctl.errors import AwsError
from cloudctl.server.internal import Caller
from cloudctl.services.cloudformation.errors import ResourceFailure

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


class NeedsReplacement(Exception):
    """The change cannot be applied in place: the engine replaces the resource."""


@dataclass
class Act:
    """One action on one resource of one stack."""

    cloud: Cloud
    caller: Caller
    stack_name: str
    stack_id: str
    logical_id: str
    token: str
    resumed: bool
    tags: list[dict[str, str]] = field(default_factory=list)  # stack + aws:cloudformation:*
    endpoint: str = ""  # the cloud's public API endpoint (wait condition URLs)
    signal_reader: Callable[[str], Awaitable[list[dict[str, Any]]]] | None = None
    update_policy: dict[str, Any] = field(default_factory=dict)  # its UpdatePolicy
    # physical ids the stack's rows record (a resumed create never adopts one of them)
    taken: frozenset[str] = frozenset()

    async def signals(self, handle_url: str) -> list[dict[str, Any]]:
        """The cfn-signal documents received on a wait condition handle."""
        if self.signal_reader is None:
            return []
        return await self.signal_reader(handle_url)

    @property
    def region(self) -> str:
        return self.caller.region

    @property
    def account_id(self) -> str:
        return self.caller.credential.account_id

    def physical_name(self, limit: int = 64, lower: bool = False) -> str:
        """``{stack}-{logical}-{RANDOM}`` as CloudFormation names resources, the random
        part derived from the token (the same name on every attempt)."""
        suffix = hashlib.sha256(self.token.encode()).hexdigest()[:13].upper()
        head = f"{self.stack_name}-{self.logical_id}"
        keep = max(1, limit - len(suffix) - 1)
        name = f"{head[:keep]}-{suffix}"
        return name.lower() if lower else name

    def user_tags(self) -> list[dict[str, str]]:
        return [t for t in self.tags if not t["Key"].startswith("aws:")]


@dataclass
class Outcome:
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


class ResourceType:
    """One resource type; subclasses implement ``create`` and ``delete`` at least."""

    type_name: ClassVar[str]
    extra_attributes: ClassVar[frozenset[str]] = frozenset()
    # attributes named by a prefix and a name of the user's (a nested stack's Outputs.X)
    attribute_prefixes: ClassVar[tuple[str, ...]] = ()
    # properties changed in place by ``update`` (others need replacement)
    updatable: ClassVar[frozenset[str]] = frozenset()
    takes_tags: ClassVar[bool] = False
    # the properties drift detection compares (none: the type answers NOT_CHECKED)
    drift_keys: ClassVar[tuple[str, ...]] = ()

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        raise NotImplementedError

    async def create_many(self, acts: Sequence[Act], props: Sequence[dict[str, Any]]
                          ) -> list[Outcome | BaseException]:
        """Create resources of this type whose steps are ready together: each one's
        ``Outcome`` or the exception its ``create`` raised (one failing fails only
        itself). Types whose service makes many in one transaction override this; by
        default each is its own ``create``, all at once."""
        return list(await asyncio.gather(*(self.create(act, p) for act, p in
                                           zip(acts, props, strict=True)),
                                         return_exceptions=True))

    async def ready(self, act: Act, physical_id: str,
                    attributes: dict[str, Any]) -> dict[str, Any] | None:
        """The attributes when the resource is usable, None while it is not yet; raise
        ``ResourceFailure`` when it will never be."""
        del act, physical_id
        return attributes

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        del act, physical_id, old, new, attributes
        raise NeedsReplacement()

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        raise NotImplementedError

    async def delete_many(self, acts: Sequence[Act], physical_ids: Sequence[str],
                          props: Sequence[dict[str, Any]],
                          attributes: Sequence[dict[str, Any]]) -> list[BaseException | None]:
        """Delete resources of this type whose deletions start together: None for each
        deleted (or already gone), or the exception its ``delete`` raised (one failing
        fails only itself). Types whose service deletes many in one transaction
        override this; by default each is its own ``delete``, all at once."""
        return list(await asyncio.gather(*(
            self.delete(act, physical_id, p, a) for act, physical_id, p, a in
            zip(acts, physical_ids, props, attributes, strict=True)), return_exceptions=True))

    async def gone(self, act: Act, physical_id: str, attributes: dict[str, Any]) -> bool:
        """Whether a deleted resource is gone (an instance terminated)."""
        del act, physical_id, attributes
        return True

    async def snapshot(self, act: Act, physical_id: str) -> None:
        """DeletionPolicy: Snapshot (only types that support it override)."""
        del act, physical_id
        raise ResourceFailure("DeletionPolicy Snapshot is not supported by this type")

    def ref(self, physical_id: str, attributes: dict[str, Any]) -> Any:
        del attributes
        return physical_id

    async def live(self, act: Act, physical_id: str,
                   attributes: dict[str, Any]) -> dict[str, Any] | None:
        """The resource's ``drift_keys`` as they are now, in ``comparable`` form, read
        through its service's API; None when the resource no longer exists."""
        del act, physical_id, attributes
        raise NotImplementedError

    def comparable(self, props: dict[str, Any]) -> dict[str, Any]:
        """The template's ``drift_keys`` in the form ``live`` answers them."""
        return {key: props[key] for key in self.drift_keys if key in props}

    def in_place(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Whether every changed property is one ``update`` applies in place."""
        changed = {k for k in set(old) | set(new) if old.get(k) != new.get(k)}
        return changed <= self.updatable


def as_json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def failure(error: AwsError) -> ResourceFailure:
    """A service's error as the resource's status reason (AWS's handler wording)."""
    return ResourceFailure(f"{error.message} (Service: {error.code}; Status Code: "
                           f"{error.status}; Error Code: {error.code})")


def resumed_exists(act: Act, error: AwsError, *codes: str) -> bool:
    """A resumed create found the resource it made before the crash."""
    return act.resumed and error.code in codes
