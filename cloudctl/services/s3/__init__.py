"""S3 (Eucalyptus object storage gateway): buckets, objects, multipart, versioning, ACLs.

Metadata (buckets, object versions, uploads, configuration documents) lives in SQL
(``models.py``); object bytes live in a ``storagectl`` blob store (``store.py``).
The rule that keeps both consistent: a blob is made durable first, and only then is
the row that makes it visible committed; rows are deleted before their blobs; a
reconcile loop (``reconcile.py``) removes blobs no row references.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cloudctl.server.spec import ServiceSpec

if TYPE_CHECKING:
    from cloudctl.server.cloud import Cloud


def _install(cloud: Cloud) -> None:
    from cloudctl.services.s3.install import install

    install(cloud)


def _tables() -> Sequence[type[Any]]:
    from cloudctl.services.s3 import models

    return models.S3_TABLES


SERVICE = ServiceSpec("s3", _install, tables=_tables)
