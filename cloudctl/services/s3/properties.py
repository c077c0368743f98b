"""Cloud properties of object storage (``objectstorage.*``)."""

from __future__ import annotations

from cloudctl.properties.registry import PropertyDef, PropertyType, registry

PROVIDER_CLIENT = registry.define(PropertyDef(
    "objectstorage.providerclient", PropertyType.STRING, "file",
    "Blob backend of object data: file (under the data directory) or ceph-rados.",
    choices=("file", "ceph-rados"),
))
CEPH_POOL = registry.define(PropertyDef(
    "objectstorage.ceph.pool", PropertyType.STRING, "objectstorage",
    "RADOS pool holding object data (ceph-rados backend).",
))
CEPH_CONFFILE = registry.define(PropertyDef(
    "objectstorage.ceph.conffile", PropertyType.STRING, "",
    "ceph.conf of the cluster (ceph-rados backend; empty: the library default).",
))
CEPH_CLIENT = registry.define(PropertyDef(
    "objectstorage.ceph.client_name", PropertyType.STRING, "",
    "Ceph client name, e.g. client.objectstorage (empty: the library default).",
))
CEPH_KEYRING = registry.define(PropertyDef(
    "objectstorage.ceph.keyring", PropertyType.STRING, "",
    "Keyring of the Ceph client (empty: as ceph.conf says).",
))
MAX_OBJECT_BYTES = registry.define(PropertyDef(
    "objectstorage.max_object_bytes", PropertyType.INTEGER, str(5 << 30),
    "Largest single PUT (EntityTooLarge beyond); multipart objects may be larger.",
    minimum=1, maximum=1 << 50,
))
MIN_PART_BYTES = registry.define(PropertyDef(
    "objectstorage.min_part_bytes", PropertyType.INTEGER, str(5 << 20),
    "Smallest multipart part except the last (EntityTooSmall below).",
    minimum=0, maximum=5 << 30,
))
RECONCILE_INTERVAL = registry.define(PropertyDef(
    "objectstorage.reconcile_interval_sec", PropertyType.INTEGER, "3600",
    "Seconds between runs of the lifecycle and orphan-blob reconcile loop.",
    minimum=1, maximum=7 * 86400,
))
ORPHAN_GRACE = registry.define(PropertyDef(
    "objectstorage.orphan_grace_sec", PropertyType.INTEGER, "86400",
    "Age after which a blob no object references is removed (longer than any upload).",
    minimum=0, maximum=30 * 86400,
))
LIFECYCLE_CLOCK_OFFSET = registry.define(PropertyDef(
    "objectstorage.lifecycle_clock_offset_sec", PropertyType.INTEGER, "0",
    "Seconds added to the clock when lifecycle rules are evaluated (testing only).",
    minimum=0, maximum=100 * 365 * 86400,
))
SYNC_MODE = registry.define(PropertyDef(
    "objectstorage.sync_mode", PropertyType.STRING, "always",
    "How the file backend makes small objects durable before a PUT is answered: always "
    "(an fsync round per object in the request's own worker-thread call) or group (one "
    "committer thread fsyncs every object queued meanwhile, one directory fsync and one "
    "wake-up per batch). Both fsync each object before acknowledging it.",
    choices=("always", "group"),
))
INLINE_MAX_BYTES = registry.define(PropertyDef(
    "objectstorage.inline_max_bytes", PropertyType.INTEGER, str(64 << 10),
    "Objects up to this size are stored in their metadata row instead of a blob (one "
    "database commit per PUT, no blob file or RADOS object); 0 stores every object as a "
    "blob. Encrypted objects are stored encrypted either way.",
    minimum=0, maximum=1 << 20,
))
REPLICATION_INTERVAL = registry.define(PropertyDef(
    "objectstorage.replication_interval_sec", PropertyType.INTEGER, "2",
    "Seconds between passes of the bucket replication copier over replicated buckets.",
    minimum=1, maximum=86400,
))
LOG_FLUSH_INTERVAL = registry.define(PropertyDef(
    "objectstorage.access_log_flush_sec", PropertyType.INTEGER, "5",
    "Seconds between deliveries of server access log records to their target buckets.",
    minimum=1, maximum=86400,
))
INVENTORY_INTERVAL = registry.define(PropertyDef(
    "objectstorage.inventory_interval_sec", PropertyType.INTEGER, "86400",
    "Seconds between inventory reports (a Daily inventory is one a day; lower for tests).",
    minimum=1, maximum=7 * 86400,
))

STORAGE_METRICS_INTERVAL = registry.define(PropertyDef(
    "objectstorage.storage_metrics_interval_sec", PropertyType.INTEGER, "3600",
    "Seconds between looks for buckets whose AWS/S3 daily storage metrics (BucketSizeBytes, "
    "NumberOfObjects) are not published yet today (lower for tests).",
    minimum=1, maximum=86400,
))
