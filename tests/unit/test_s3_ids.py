"""Ids the S3 service makes are ids its blob stores accept, every time."""

from __future__ import annotations

from cloudctl.services.s3.multipart import new_upload_id
from cloudctl.services.s3.store import new_blob_id
from storagectl.objects.base import check_id


def test_upload_and_blob_ids_always_pass_the_blob_store_check() -> None:
    # token_urlsafe starts with "-" or "_" about once in 32 draws: 2,000 draws
    # would all but surely include one if the id were not prefixed
    for _ in range(2000):
        check_id("upload", new_upload_id())
        check_id("blob", new_blob_id())
