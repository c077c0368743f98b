"""Objects the cloud itself writes into a bucket (server access logs, inventory
reports): stored as the current version of a key, owned by the target bucket's account
with a private ACL, through the same version bookkeeping as a PUT. A blob written for a
version that could not be committed is removed again."""

from __future__ import annotations

import contextlib

from cloudctl.services.s3 import acl as acls
from cloudctl.services.s3 import identity, inline
from cloudctl.services.s3 import properties as props
from cloudctl.services.s3.base import S3Provider, dumps, now
from cloudctl.services.s3.models import S3Bucket, S3Object, object_row


async def put_object(provider: S3Provider, target: S3Bucket, key: str, body: bytes,
                     content_type: str) -> None:
    """Store ``body`` at ``key`` in ``target`` as the cloud's delivery."""
    from cloudctl.services.s3.objects import commit_version

    stored = await inline.store(provider.store, None,
                                limit=int(provider.cloud.properties.get(props.INLINE_MAX_BYTES)),
                                declared_size=len(body), expected_md5=None, data_key=None,
                                whole=body)
    async with provider.cloud.sessions() as session:
        owner = await identity.owner_of(session, target.account_id)
    headers = {"ContentType": content_type, "Metadata": {}}

    async def make_row(bucket: S3Bucket) -> S3Object:
        return object_row(bucket=bucket.name, key=key, blob_id=stored.blob_id,
                          size=stored.size, etag=stored.md5_hex, last_modified=now(),
                          owner_account=target.account_id, headers=dumps(headers),
                          storage_class="STANDARD", acl=acls.private_text(owner), tags=None,
                          sse_key=None, delete_marker=False, parts=0,
                          inline_data=stored.inline_data)

    try:
        await commit_version(provider, target.name, make_row)
    except BaseException:
        if stored.blob_id is not None:
            with contextlib.suppress(Exception):
                await provider.store.delete(stored.blob_id)
        raise
