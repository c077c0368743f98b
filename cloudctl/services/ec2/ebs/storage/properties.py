"""Cloud properties of block storage (per zone: the backend and its connection).

``{zone}.storage.blockstoragemanager`` chooses the backend of a zone, as in
Eucalyptus (``file`` here replaces ``overlay``; ``ceph-rbd`` as before). The Ceph
connection properties follow the Eucalyptus SC names loosely. Limits are
cloud-wide.
"""

from __future__ import annotations

from cloudctl.properties.registry import PropertyDef, PropertyType, registry

BACKEND_KINDS = ("file", "ceph-rbd")

BLOCK_MANAGER = registry.define(PropertyDef(
    "{zone}.storage.blockstoragemanager", PropertyType.STRING, "file",
    "Block storage backend of zone {zone}: file (local files) or ceph-rbd. Existing "
    "volumes stay on the backend they were created on.", choices=BACKEND_KINDS,
))
FILE_ROOT = registry.define(PropertyDef(
    "{zone}.storage.volumes_dir", PropertyType.STRING, "",
    "Directory of the file backend of zone {zone} (empty: <data_dir>/volumes).",
))
CEPH_CONF = registry.define(PropertyDef(
    "{zone}.storage.ceph.conf", PropertyType.STRING, "/etc/ceph/ceph.conf",
    "Path of the ceph.conf used by the ceph-rbd backend of zone {zone}.",
))
CEPH_KEYRING = registry.define(PropertyDef(
    "{zone}.storage.ceph.keyring", PropertyType.STRING, "",
    "Path of the keyring of the Ceph user of zone {zone} (empty: from ceph.conf).",
))
CEPH_USER = registry.define(PropertyDef(
    "{zone}.storage.ceph.user", PropertyType.STRING, "client.admin",
    "Ceph user (client.NAME) of the ceph-rbd backend of zone {zone}.",
))
CEPH_POOL = registry.define(PropertyDef(
    "{zone}.storage.ceph.pool", PropertyType.STRING, "rbd",
    "RBD pool holding the volumes and snapshots of zone {zone}.",
))
CEPH_PREFIX = registry.define(PropertyDef(
    "{zone}.storage.ceph.prefix", PropertyType.STRING, "",
    "Prefix of the RBD image names this cloud owns in the pool of zone {zone}.",
))
ZONE_PROPERTIES = (BLOCK_MANAGER, FILE_ROOT, CEPH_CONF, CEPH_KEYRING, CEPH_USER, CEPH_POOL,
                   CEPH_PREFIX)

MAX_VOLUME_SIZE = registry.define(PropertyDef(
    "storage.max_volume_size_gb", PropertyType.INTEGER, "1024",
    "Largest volume in GiB a user may create or grow to.", minimum=1, maximum=65536,
))
SNAPSHOT_TOTAL_LIMIT = registry.define(PropertyDef(
    "storage.global_total_snapshot_size_limit_gb", PropertyType.INTEGER, "1024",
    "Total GiB of all snapshots in the cloud (0: unlimited).", minimum=0,
))
MAX_SNAPSHOTS_PER_ACCOUNT = registry.define(PropertyDef(
    "storage.max_snapshots_per_account", PropertyType.INTEGER, "10000",
    "Most snapshots one account may hold in a region (0: unlimited).", minimum=0,
))
RECONCILE_INTERVAL = registry.define(PropertyDef(
    "storage.reconcile_interval_sec", PropertyType.INTEGER, "5",
    "Seconds between full resyncs of the block storage reconciler.", minimum=1, maximum=3600,
))


def zone_property(template: PropertyDef, zone: str) -> str:
    """The name of a per-zone property for ``zone``."""
    return template.name.replace("{zone}", zone)
