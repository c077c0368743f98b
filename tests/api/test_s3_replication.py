"""S3 bucket replication within the cloud: configuration checks, versions copied with
PENDING -> COMPLETED on the source and REPLICA on the copy, delete marker replication."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud, wait_for


def test_replication_copies_new_versions(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    s3 = cloud.client("s3")
    source, target = bucket_name("repsrc"), bucket_name("repdst")
    s3.create_bucket(Bucket=source)
    s3.create_bucket(Bucket=target)
    role = f"arn:aws:iam::{cloud.account_id}:role/replication"
    config = {"Role": role, "Rules": [{
        "ID": "docs", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "docs/"},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{target}"}}]}
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_replication(Bucket=source, ReplicationConfiguration=config)
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"  # no versioning
    s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_replication(Bucket=source, ReplicationConfiguration=config)
    assert exc.value.response["Error"]["Code"] == "InvalidRequest"  # destination unversioned
    s3.put_bucket_versioning(Bucket=target, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket=source, ReplicationConfiguration=config)
    assert s3.get_bucket_replication(Bucket=source)["ReplicationConfiguration"]["Role"] == role
    version = s3.put_object(Bucket=source, Key="docs/a.txt", Body=b"replicate me")["VersionId"]
    s3.put_object(Bucket=source, Key="other.txt", Body=b"stay")
    assert s3.head_object(Bucket=source, Key="docs/a.txt")["ReplicationStatus"] in (
        "PENDING", "COMPLETED")
    wait_for(lambda: s3.head_object(Bucket=source, Key="docs/a.txt")
             .get("ReplicationStatus") == "COMPLETED", 30, "replication")
    copy = s3.get_object(Bucket=target, Key="docs/a.txt")
    assert copy["Body"].read() == b"replicate me"
    assert copy["ReplicationStatus"] == "REPLICA" and copy["VersionId"] == version
    assert "ReplicationStatus" not in s3.head_object(Bucket=source, Key="other.txt")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=target, Key="other.txt")
    s3.delete_object(Bucket=source, Key="docs/a.txt")

    def marker_replicated() -> bool:
        markers = s3.list_object_versions(Bucket=target).get("DeleteMarkers", [])
        return any(m["Key"] == "docs/a.txt" and m["IsLatest"] for m in markers)

    wait_for(marker_replicated, 30, "delete marker replication")
    s3.delete_bucket_replication(Bucket=source)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_replication(Bucket=source)
    assert exc.value.response["Error"]["Code"] == "ReplicationConfigurationNotFoundError"
