"""Multipart uploads: create, upload part (and part copy), complete, abort, list.

Parts go to the blob store under the upload id; the part row is committed after
the part is durable. Complete checks the list (InvalidPart, InvalidPartOrder,
EntityTooSmall), asks the store to assemble the blob, then commits the object row
and drops the upload rows in one transaction, then lets the store drop the parts.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from sqlalchemy import delete, select

from cloudctl.errors import AwsError
from cloudctl.server.context import RequestContext
from cloudctl.server.providers import operation
from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import conditions, features, identity, sse, versioning
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.account_access import account_settings
from cloudctl.services.s3.archive import check_storage_class
from cloudctl.services.s3.base import (
    S3Provider,
    dumps,
    loads,
    now,
    quote_etag,
    unquote_etag,
    writes_key,
)
from cloudctl.services.s3.body import Payload
from cloudctl.services.s3.errors import invalid_argument, no_such_upload, s3_error
from cloudctl.services.s3.models import S3Bucket, S3Object, S3Part, S3Upload
from cloudctl.services.s3.objects import commit_version, request_headers, tagging_header
from cloudctl.services.s3.store import new_blob_id
from storagectl.objects import BadDigest, UploadNotFound
from storagectl.objects.base import multipart_etag

MAX_PARTS = 10000


def new_upload_id() -> str:
    """An opaque upload id as S3's look (URL-safe base64); it starts with a letter, as
    blob stores require of ids (token_urlsafe may start with ``-`` or ``_``)."""
    return "U" + secrets.token_urlsafe(32).replace("-", "A")


class MultipartProvider(S3Provider):
    """The multipart upload operations."""

    async def _upload(self, ctx: RequestContext, params: dict[str, Any],
                      action: str) -> tuple[S3Bucket, S3Upload]:
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, action, "WRITE", key=str(params["Key"]))
            upload = await session.get(S3Upload, str(params["UploadId"]))
            if upload is None or upload.bucket != bucket.name or upload.key != params["Key"]:
                raise no_such_upload(str(params["UploadId"]))
            return bucket, upload

    @operation("CreateMultipartUpload")
    @writes_key
    async def create(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        key = str(params["Key"])
        storage_class = check_storage_class(params.get("StorageClass"))
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, "s3:PutObject", "WRITE", key=key)
            features.check_object_write(
                bucket, params, await account_settings(self.cloud, bucket.account_id))
            encrypt = sse.requested(params, bucket.encryption)
            account = features.object_owner(bucket, ctx.account_id or bucket.account_id, params)
            owner = await identity.owner_of(session, account)
            bucket_owner = await identity.owner_of(session, bucket.account_id)
            acl = await acls.from_request(session, params, owner, bucket_owner) \
                or acls.canned("private", owner)
            headers = request_headers(params)
            features.object_lock.apply(bucket, params, ctx, headers)
            algorithm = params.get("ChecksumAlgorithm")
            if algorithm:
                headers["ChecksumAlgorithm"] = str(algorithm)
            tags = tagging_header(params.get("Tagging"))
            if encrypt:
                headers["ServerSideEncryption"] = sse.AES256
                headers["SSEKey"] = sse.DataKey.new().seal(self.cloud.secrets)
            upload = S3Upload(upload_id=new_upload_id(),
                              bucket=bucket.name, key=key, account_id=account,
                              storage_class=storage_class,
                              headers=dumps(headers), acl=acls.dump(acl),
                              tags=dumps(tags) if tags else None, sse=encrypt, initiated=now())
            session.add(upload)
            await session.commit()
        out: dict[str, Any] = {"Bucket": bucket.name, "Key": key, "UploadId": upload.upload_id}
        if algorithm:
            out["ChecksumAlgorithm"] = algorithm
        if encrypt:
            out["ServerSideEncryption"] = sse.AES256
        return out

    def _encrypting(self, upload: S3Upload, number: int) -> sse.Encrypting | None:
        if not upload.sse:
            return None
        sealed = str(loads(upload.headers, {})["SSEKey"])
        return sse.Encrypting(sse.DataKey.open(self.cloud.secrets, sealed), number)

    async def _put_part(self, upload: S3Upload, number: int, chunks: Any,
                        expected_md5: str | None = None) -> tuple[int, str]:
        """Store a part (encrypted when the upload is); (size, MD5 of the plaintext)."""
        encrypting = self._encrypting(upload, number)
        try:
            info = await self.store.put_part(
                upload.upload_id, number, encrypting.wrap(chunks) if encrypting else chunks,
                expected_md5=None if encrypting else expected_md5)
        except BadDigest:
            raise s3_error("BadDigest", "The Content-MD5 you specified did not match what we "
                           "received.") from None
        md5 = encrypting.md5.hexdigest() if encrypting else info.md5_hex
        if expected_md5 is not None and md5 != expected_md5:
            raise s3_error("BadDigest", "The Content-MD5 you specified did not match what we "
                           "received.")
        return info.size, md5

    def _part_number(self, params: dict[str, Any]) -> int:
        number = int(params["PartNumber"])
        if not 1 <= number <= MAX_PARTS:
            raise invalid_argument("Part number must be an integer between 1 and 10000, "
                                   "inclusive", "partNumber", str(number))
        return number

    async def _record_part(self, upload_id: str, number: int, size: int, etag: str) -> None:
        async with self.cloud.sessions() as session:
            if await session.get(S3Upload, upload_id) is None:
                raise no_such_upload(upload_id)
            await session.execute(delete(S3Part).where(S3Part.upload_id == upload_id,
                                                       S3Part.part_number == number))
            session.add(S3Part(upload_id=upload_id, part_number=number, size=size, etag=etag,
                               last_modified=now()))
            await session.commit()

    @operation("UploadPart")
    @writes_key
    async def upload_part(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        number = self._part_number(params)
        _, upload = await self._upload(ctx, params, "s3:PutObject")
        payload = Payload(ctx, params, 5 << 30)
        size, md5 = await self._put_part(upload, number, payload.chunks(), payload.expected_md5)
        checksums = payload.verify()
        await self._record_part(upload.upload_id, number, size, md5)
        out: dict[str, Any] = {"ETag": quote_etag(md5)}
        if upload.sse:
            out["ServerSideEncryption"] = sse.AES256
        for algorithm, value in checksums.items():
            out[f"Checksum{algorithm}"] = value
        return out

    async def copy_part(self, ctx: RequestContext, params: dict[str, Any],
                        chunks: Any) -> dict[str, Any]:
        """UploadPartCopy's second half (the copy module opens the source)."""
        number = self._part_number(params)
        _, upload = await self._upload(ctx, params, "s3:PutObject")
        size, md5 = await self._put_part(upload, number, chunks)
        await self._record_part(upload.upload_id, number, size, md5)
        return {"CopyPartResult": {"ETag": quote_etag(md5), "LastModified": now()}}

    @operation("CompleteMultipartUpload")
    @writes_key
    async def complete(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        conditional = conditions.check_write_headers(params)
        wanted = (params.get("MultipartUpload") or {}).get("Parts") or []
        try:
            bucket, upload = await self._upload(ctx, params, "s3:PutObject")
        except AwsError as exc:
            if exc.code != "NoSuchUpload" or not wanted:
                raise
            return await self._completed(params, wanted, exc)
        if not wanted or len(wanted) > MAX_PARTS:
            raise s3_error("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema")
        if conditional:  # fail early; checked again where the version is installed
            async with self.cloud.sessions() as session:
                conditions.check_write(params, await versioning.current_etag(
                    session, bucket.name, upload.key))
        async with self.cloud.sessions() as session:
            stored = {p.part_number: p for p in (await session.execute(
                select(S3Part).where(S3Part.upload_id == upload.upload_id))).scalars()}
        minimum = int(self.cloud.properties.get(props.MIN_PART_BYTES))
        numbers: list[int] = []
        md5s: list[str] = []
        size = 0
        for part in wanted:
            number = int(part.get("PartNumber", 0))
            row = stored.get(number)
            if row is None or unquote_etag(str(part.get("ETag", ""))) != row.etag:
                raise s3_error("InvalidPart", "One or more of the specified parts could not be "
                               "found. The part may not have been uploaded, or the specified "
                               "entity tag may not match the part's entity tag.",
                               UploadId=upload.upload_id, PartNumber=number)
            if numbers and number <= numbers[-1]:
                raise s3_error("InvalidPartOrder", "The list of parts was not in ascending "
                               "order. The parts list must be specified in order by part "
                               "number.", UploadId=upload.upload_id)
            numbers.append(number)
            md5s.append(row.etag)
            size += row.size
        for number in numbers[:-1]:
            if stored[number].size < minimum:
                raise s3_error("EntityTooSmall", "Your proposed upload is smaller than the "
                               "minimum allowed object size.", ProposedSize=stored[number].size,
                               MinSizeAllowed=minimum, PartNumber=number,
                               ETag=quote_etag(stored[number].etag))
        blob_id = new_blob_id()
        try:
            info = await self.store.complete(upload.upload_id, blob_id, numbers)
        except UploadNotFound:
            raise no_such_upload(upload.upload_id) from None
        etag = info.md5_hex if "-" in info.md5_hex and not upload.sse else multipart_etag(md5s)
        upload_id = upload.upload_id
        sse_key = None
        fields = loads(upload.headers, {})
        # what a retried Complete and a GET by part number need
        fields["UploadId"] = upload_id
        fields["PartSizes"] = [stored[number].size for number in numbers]
        if upload.sse:
            data_key = sse.DataKey.open(self.cloud.secrets, str(fields.pop("SSEKey")))
            segments, offset = [], 0
            for number in numbers:
                segments.append((offset, number))
                offset += stored[number].size
            sse_key = sse.record(self.cloud.secrets, data_key, segments)
        headers = dumps(fields)

        async def make_row(bucket: S3Bucket) -> S3Object:
            return S3Object(bucket=bucket.name, key=upload.key, blob_id=blob_id, size=info.size,
                            etag=etag, last_modified=now(), owner_account=upload.account_id,
                            headers=headers, sse_key=sse_key, storage_class=upload.storage_class,
                            acl=upload.acl, tags=upload.tags, delete_marker=False,
                            parts=len(numbers))

        try:
            made = await self._finish(bucket, upload_id, make_row,
                                      params if conditional else None)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.store.delete(blob_id)
            raise
        with contextlib.suppress(Exception):
            await self.store.abort(upload_id)
        out: dict[str, Any] = {"Location": f"/{bucket.name}/{upload.key}", "Bucket": bucket.name,
                               "Key": upload.key, "ETag": quote_etag(etag)}
        if upload.sse:
            out["ServerSideEncryption"] = sse.AES256
        if made.version_id != versioning.NULL:
            out["VersionId"] = made.version_id
        return out

    async def _completed(self, params: dict[str, Any], wanted: list[dict[str, Any]],
                         missing: AwsError) -> dict[str, Any]:
        """A retried Complete of an upload that completed already, with the same parts:
        the answer of the first one (AWS); ``missing`` (NoSuchUpload) otherwise."""
        upload_id, key = str(params["UploadId"]), str(params["Key"])
        try:
            etag = multipart_etag([unquote_etag(str(p.get("ETag", ""))) for p in wanted])
        except ValueError:  # not an ETag this cloud made
            raise missing from None
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(S3Object).where(
                S3Object.bucket == str(params["Bucket"]), S3Object.key == key,
                S3Object.delete_marker.is_(False)).order_by(S3Object.seq.desc()).limit(100)
            )).scalars().all()
        for row in rows:
            if loads(row.headers, {}).get("UploadId") == upload_id:
                if row.etag != etag:
                    break
                out: dict[str, Any] = {"Location": f"/{row.bucket}/{key}",
                                       "Bucket": row.bucket, "Key": key,
                                       "ETag": quote_etag(row.etag)}
                if row.sse_key:
                    out["ServerSideEncryption"] = sse.AES256
                if row.version_id != versioning.NULL:
                    out["VersionId"] = row.version_id
                return out
        raise missing

    async def _finish(self, bucket: S3Bucket, upload_id: str, make_row: Any,
                      condition: dict[str, Any] | None) -> S3Object:
        async def make_and_close(current: S3Bucket) -> S3Object:
            row: S3Object = await make_row(current)
            return row

        row = await commit_version(self, bucket.name, make_and_close, condition)
        async with self.cloud.sessions() as session:
            await session.execute(delete(S3Part).where(S3Part.upload_id == upload_id))
            await session.execute(delete(S3Upload).where(S3Upload.upload_id == upload_id))
            await session.commit()
        return row

    @operation("AbortMultipartUpload")
    async def abort(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, upload = await self._upload(ctx, params, "s3:AbortMultipartUpload")
        await self.drop_upload(upload.upload_id)
        return {}

    async def drop_upload(self, upload_id: str) -> None:
        async with self.cloud.sessions() as session:
            await session.execute(delete(S3Part).where(S3Part.upload_id == upload_id))
            await session.execute(delete(S3Upload).where(S3Upload.upload_id == upload_id))
            await session.commit()
        await self.store.abort(upload_id)

    @operation("ListParts")
    async def list_parts(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        _, upload = await self._upload(ctx, params, "s3:ListMultipartUploadParts")
        marker = int(params.get("PartNumberMarker") or 0)
        limit = min(int(params.get("MaxParts") or 1000), 1000)
        async with self.cloud.sessions() as session:
            rows = (await session.execute(select(S3Part).where(
                S3Part.upload_id == upload.upload_id, S3Part.part_number > marker
            ).order_by(S3Part.part_number).limit(limit + 1))).scalars().all()
            owner = await identity.owner_of(session, upload.account_id)
        truncated = len(rows) > limit
        rows = rows[:limit]
        who = {"ID": owner.canonical_id, "DisplayName": owner.display_name}
        out: dict[str, Any] = {
            "Bucket": upload.bucket, "Key": upload.key, "UploadId": upload.upload_id,
            "PartNumberMarker": marker, "MaxParts": limit, "IsTruncated": truncated,
            "StorageClass": upload.storage_class, "Owner": who, "Initiator": who,
            "Parts": [{"PartNumber": r.part_number, "LastModified": r.last_modified,
                       "ETag": quote_etag(r.etag), "Size": r.size} for r in rows]}
        if rows:
            out["NextPartNumberMarker"] = rows[-1].part_number
        algorithm = loads(upload.headers, {}).get("ChecksumAlgorithm")
        if algorithm:
            out["ChecksumAlgorithm"] = algorithm
        return out

    @operation("ListMultipartUploads")
    async def list_uploads(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        prefix = str(params.get("Prefix") or "")
        key_marker = str(params.get("KeyMarker") or "")
        limit = min(int(params.get("MaxUploads") or 1000), 1000)
        async with self.cloud.sessions() as session:
            bucket = await self.bucket(session, params["Bucket"])
            await self.authorize(session, ctx, bucket, "s3:ListBucketMultipartUploads", "READ")
            query = select(S3Upload).where(S3Upload.bucket == bucket.name,
                                           S3Upload.key > key_marker)
            if prefix:
                query = query.where(S3Upload.key >= prefix, S3Upload.key < prefix + "\U0010ffff")
            rows = (await session.execute(query.order_by(S3Upload.key, S3Upload.initiated)
                                          .limit(limit + 1))).scalars().all()
            owners = {r.account_id: await identity.owner_of(session, r.account_id) for r in rows}
        truncated = len(rows) > limit
        rows = rows[:limit]
        uploads = []
        for r in rows:
            o = owners[r.account_id]
            who = {"ID": o.canonical_id, "DisplayName": o.display_name}
            uploads.append({"UploadId": r.upload_id, "Key": r.key, "Initiated": r.initiated,
                            "StorageClass": r.storage_class, "Owner": who, "Initiator": who})
        out: dict[str, Any] = {"Bucket": bucket.name, "KeyMarker": key_marker, "Prefix": prefix,
                               "MaxUploads": limit, "IsTruncated": truncated, "Uploads": uploads}
        if truncated and rows:
            out["NextKeyMarker"] = rows[-1].key
            out["NextUploadIdMarker"] = rows[-1].upload_id
        return out
