"""S3 Object Lock, enforced: compliance versions cannot be deleted, governance only with
the bypass, retention cannot be shortened, legal holds, default retention."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.api.s3_helpers import bucket_name
from tests.support import LiveCloud


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_compliance_version_cannot_be_deleted(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    until = datetime.now(UTC) + timedelta(days=1)
    version = s3.put_object(Bucket=name, Key="k", Body=b"kept", ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    head = s3.head_object(Bucket=name, Key="k")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=name, Key="k", VersionId=version)
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=name, Key="k", VersionId=version,
                         BypassGovernanceRetention=True)
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:  # cannot be shortened
        s3.put_object_retention(Bucket=name, Key="k", VersionId=version, Retention={
            "Mode": "COMPLIANCE", "RetainUntilDate": until - timedelta(hours=1)})
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:  # nor weakened
        s3.put_object_retention(Bucket=name, Key="k", VersionId=version, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": until + timedelta(days=1)})
    assert _code(exc) == "AccessDenied"
    s3.put_object_retention(Bucket=name, Key="k", VersionId=version, Retention={
        "Mode": "COMPLIANCE", "RetainUntilDate": until + timedelta(days=1)})
    # a delete without a version id adds a delete marker; the version stays
    assert s3.delete_object(Bucket=name, Key="k")["DeleteMarker"]
    assert s3.get_object(Bucket=name, Key="k", VersionId=version)["Body"].read() == b"kept"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert _code(exc) == "InvalidBucketState"
    errors = s3.delete_objects(Bucket=name, Delete={"Objects": [
        {"Key": "k", "VersionId": version}]})["Errors"]
    assert [e["Code"] for e in errors] == ["AccessDenied"]


def test_governance_bypass_and_legal_hold(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("lockg")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    until = datetime.now(UTC) + timedelta(days=1)
    version = s3.put_object(Bucket=name, Key="g", Body=b"x", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    retention = s3.get_object_retention(Bucket=name, Key="g", VersionId=version)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=name, Key="g", VersionId=version)
    assert _code(exc) == "AccessDenied"
    s3.delete_object(Bucket=name, Key="g", VersionId=version, BypassGovernanceRetention=True)
    held = s3.put_object(Bucket=name, Key="h", Body=b"x")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_legal_hold(Bucket=name, Key="h", VersionId=held)
    assert _code(exc) == "NoSuchObjectLockConfiguration"
    s3.put_object_legal_hold(Bucket=name, Key="h", VersionId=held, LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=name, Key="h",
                                    VersionId=held)["LegalHold"]["Status"] == "ON"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=name, Key="h", VersionId=held, BypassGovernanceRetention=True)
    assert _code(exc) == "AccessDenied"
    s3.put_object_legal_hold(Bucket=name, Key="h", VersionId=held, LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=name, Key="h", VersionId=held)


def test_lock_configuration_and_default_retention(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    plain = bucket_name("nolock")
    s3.create_bucket(Bucket=plain)
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=plain)
    assert _code(exc) == "ObjectLockConfigurationNotFoundError"
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket=plain, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled"})
    assert _code(exc) == "InvalidBucketState"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=plain, Key="k", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=datetime.now(UTC) + timedelta(days=1))
    assert _code(exc) == "InvalidRequest"
    name = bucket_name("lockd")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    config = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
        "Mode": "COMPLIANCE", "Days": 1}}}
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration=config)
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"] == config
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
                "Mode": "COMPLIANCE", "Days": 1, "Years": 1}}})
    assert _code(exc) == "MalformedXML"
    version = s3.put_object(Bucket=name, Key="d", Body=b"x")["VersionId"]
    assert s3.head_object(Bucket=name, Key="d")["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=name, Key="d", VersionId=version)
    assert _code(exc) == "AccessDenied"


def test_lifecycle_never_expires_a_locked_version(cloud: LiveCloud) -> None:
    s3 = cloud.client("s3")
    name = bucket_name("locklife")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    until = datetime.now(UTC) + timedelta(days=1)
    locked = s3.put_object(Bucket=name, Key="locked", Body=b"v1", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=until)["VersionId"]
    s3.put_object(Bucket=name, Key="locked", Body=b"v2")
    free = s3.put_object(Bucket=name, Key="free", Body=b"v1")["VersionId"]
    s3.put_object(Bucket=name, Key="free", Body=b"v2")
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})

    def versions() -> list[str]:
        return [v["VersionId"] for v in s3.list_object_versions(Bucket=name).get(
            "Versions", [])]

    cloud.set_properties("objectstorage.reconcile_interval_sec=1",
                         f"objectstorage.lifecycle_clock_offset_sec={2 * 86400}")
    try:
        deadline = time.monotonic() + 60
        while free in versions():
            assert time.monotonic() < deadline, "the unlocked noncurrent version stayed"
            time.sleep(0.5)
        time.sleep(2)  # more passes of the lifecycle loop
        assert locked in versions()
        got = s3.get_object(Bucket=name, Key="locked", VersionId=locked)
        assert got["Body"].read() == b"v1"
        assert got["ObjectLockMode"] == "COMPLIANCE"
    finally:
        cloud.reset_properties("objectstorage.lifecycle_clock_offset_sec",
                               "objectstorage.reconcile_interval_sec")
