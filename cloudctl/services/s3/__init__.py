"""S3 (Eucalyptus object storage gateway): buckets, objects, multipart, versioning, ACLs.

Metadata (buckets, object versions, uploads, configuration documents) lives in SQL
(``models.py``); object bytes live in a ``storagectl`` blob store (``store.py``).
The rule that keeps both consistent: a blob is made durable first, and only then is
the row that makes it visible committed; rows are deleted before their blobs; a
reconcile loop (``reconcile.py``) removes blobs no row references.
"""
