"""S3 resource types: Bucket (versioning, lifecycle, CORS, encryption, tags) and
BucketPolicy, over ``cloudctl.services.s3.api``.

The template's configuration shapes (``CorsRules``, lifecycle ``Rules``) are turned
into the API's here; a changed configuration is put again (or deleted) in place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cloudctl.errors import AwsError
from cloudctl.services.cloudformation.resources.base import (
    Act,
    Outcome,
    ResourceType,
    as_json,
    resumed_exists,
)
from cloudctl.services.s3 import api as s3


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"AllowedMethods": rule["AllowedMethods"],
                           "AllowedOrigins": rule["AllowedOrigins"]}
    for src, dst in (("AllowedHeaders", "AllowedHeaders"), ("ExposedHeaders", "ExposeHeaders"),
                     ("Id", "ID"), ("MaxAge", "MaxAgeSeconds")):
        if src in rule:
            out[dst] = rule[src]
    return out


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Status": rule["Status"]}
    if "Id" in rule:
        out["ID"] = rule["Id"]
    prefix = rule.get("Prefix")
    out["Filter"] = {"Prefix": prefix or ""}
    if "ExpirationInDays" in rule:
        out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    elif "ExpirationDate" in rule:
        out["Expiration"] = {"Date": rule["ExpirationDate"]}
    if "NoncurrentVersionExpirationInDays" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
    elif "NoncurrentVersionExpiration" in rule:
        out["NoncurrentVersionExpiration"] = {
            "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(
            rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    transitions = rule.get("Transitions") or ([rule["Transition"]] if "Transition" in rule
                                              else [])
    if transitions:
        out["Transitions"] = [
            {"StorageClass": t["StorageClass"],
             **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {}),
             **({"Date": t["TransitionDate"]} if "TransitionDate" in t else {})}
            for t in transitions]
    return out


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "ServerSideEncryptionByDefault" in rule:
        out["ApplyServerSideEncryptionByDefault"] = rule["ServerSideEncryptionByDefault"]
    if "BucketKeyEnabled" in rule:
        out["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
    return out


class Bucket(ResourceType):
    type_name = "AWS::S3::Bucket"
    updatable = frozenset({"VersioningConfiguration", "LifecycleConfiguration",
                           "CorsConfiguration", "BucketEncryption", "Tags", "AccessControl"})
    takes_tags = True

    def _attributes(self, act: Act, name: str) -> dict[str, Any]:
        return {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{act.region}.amazonaws.com",
                "DualStackDomainName": f"{name}.s3.dualstack.{act.region}.amazonaws.com",
                "WebsiteURL": f"http://{name}.s3-website-{act.region}.amazonaws.com"}

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        name = props.get("BucketName") or act.physical_name(63, lower=True)
        try:
            await s3.create_bucket(act.cloud, act.caller, name, region=act.region)
        except AwsError as error:
            if not resumed_exists(act, error, "BucketAlreadyOwnedByYou"):
                raise
        await self.update(act, name, {}, props, {})
        return Outcome(name, self._attributes(act, name))

    async def create_many(self, acts: Sequence[Act], props: Sequence[dict[str, Any]]
                          ) -> list[Outcome | BaseException]:
        """Buckets on their first attempt in one ``CreateBucket`` transaction of S3
        (``s3.create_buckets``), each then configured as ``create`` does (its own
        calls, only for what its properties set); a resumed attempt as ``create``."""
        together = [i for i, act in enumerate(acts) if not act.resumed]
        if len(together) < 2:
            return await super().create_many(acts, props)
        names = [props[i].get("BucketName") or acts[i].physical_name(63, lower=True)
                 for i in together]
        made = await s3.create_buckets(acts[0].cloud, acts[0].caller, names,
                                       region=acts[0].region)
        out: list[Outcome | BaseException | None] = [None] * len(acts)
        rest = [i for i in range(len(acts)) if i not in set(together)]
        for i, result in zip(rest, await super().create_many(
                [acts[i] for i in rest], [props[i] for i in rest]), strict=True):
            out[i] = result

        async def configured(i: int, name: str, error: AwsError | None
                             ) -> Outcome | BaseException:
            if error is not None:
                return error
            try:
                await self.update(acts[i], name, {}, props[i], {})
            except AwsError as failed:
                return failed
            return Outcome(name, self._attributes(acts[i], name))

        for i, outcome in zip(together, await asyncio.gather(*(
                configured(i, name, error) for i, name, error in
                zip(together, names, made, strict=True))), strict=True):
            out[i] = outcome
        return [o for o in out if o is not None]

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        cloud, caller, name = act.cloud, act.caller, physical_id
        if old.get("VersioningConfiguration") != new.get("VersioningConfiguration"):
            status = (new.get("VersioningConfiguration") or {}).get("Status", "Suspended")
            if new.get("VersioningConfiguration") or old:
                await s3.put_versioning(cloud, caller, name, status)
        if old.get("LifecycleConfiguration") != new.get("LifecycleConfiguration"):
            rules = (new.get("LifecycleConfiguration") or {}).get("Rules")
            if rules:
                await s3.put_lifecycle(cloud, caller, name, [_lifecycle_rule(r) for r in rules])
            else:
                await s3.delete_lifecycle(cloud, caller, name)
        if old.get("CorsConfiguration") != new.get("CorsConfiguration"):
            rules = (new.get("CorsConfiguration") or {}).get("CorsRules")
            if rules:
                await s3.put_cors(cloud, caller, name, [_cors_rule(r) for r in rules])
            else:
                await s3.delete_cors(cloud, caller, name)
        if old.get("BucketEncryption") != new.get("BucketEncryption"):
            rules = (new.get("BucketEncryption") or {}).get(
                "ServerSideEncryptionConfiguration")
            if rules:
                await s3.put_encryption(cloud, caller, name, [_encryption_rule(r)
                                                              for r in rules])
            else:
                await s3.delete_encryption(cloud, caller, name)
        tags = list(new.get("Tags") or []) + act.user_tags()
        if tags and (not old or old.get("Tags") != new.get("Tags")):
            await s3.put_tagging(cloud, caller, name, tags)
        return attributes or self._attributes(act, name)

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await s3.delete_bucket(act.cloud, act.caller, physical_id)

    async def delete_many(self, acts: Sequence[Act], physical_ids: Sequence[str],
                          props: Sequence[dict[str, Any]],
                          attributes: Sequence[dict[str, Any]]) -> list[BaseException | None]:
        """The buckets in one ``DeleteBucket`` transaction of S3 (``s3.delete_buckets``),
        each failing as ``delete`` would (BucketNotEmpty...)."""
        if len(acts) < 2:
            return await super().delete_many(acts, physical_ids, props, attributes)
        return list(await s3.delete_buckets(acts[0].cloud, acts[0].caller, physical_ids))


class BucketPolicy(ResourceType):
    type_name = "AWS::S3::BucketPolicy"
    updatable = frozenset({"PolicyDocument"})

    async def create(self, act: Act, props: dict[str, Any]) -> Outcome:
        await s3.put_policy(act.cloud, act.caller, props["Bucket"],
                            as_json(props["PolicyDocument"]))
        return Outcome(props["Bucket"])

    async def update(self, act: Act, physical_id: str, old: dict[str, Any],
                     new: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
        await s3.put_policy(act.cloud, act.caller, new["Bucket"],
                            as_json(new["PolicyDocument"]))
        return attributes

    async def delete(self, act: Act, physical_id: str, props: dict[str, Any],
                     attributes: dict[str, Any]) -> None:
        await s3.delete_policy(act.cloud, act.caller, props.get("Bucket", physical_id))


TYPES: tuple[type[ResourceType], ...] = (Bucket, BucketPolicy)
