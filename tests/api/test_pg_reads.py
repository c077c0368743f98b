"""PostgreSQL's single-statement reads answer as a session did, in one round trip each.

The credential epoch, an S3 object's current version, a bucket row and IAM GetUser run
on PostgreSQL as single autocommit statements (``cloudctl/db/pgreads.py``), not in ORM
sessions (BEGIN, SELECT, ROLLBACK). Against a two-worker cloud on a PostgreSQL server
of the module's own (its log records every statement): a deactivated or deleted key is
refused at once by every worker, a GET sees the latest acknowledged PUT and a deleted
object is gone, GetUser answers and fails as before, and a GET costs two statements
(the epoch and the object; it cost six). A GET's object read starts before the
request is authenticated (it runs while the epoch read does), and a refused GET gets
nothing from it. A session that only reads (DescribeVolumes) sends no BEGIN and no
ROLLBACK (``cloudctl/db/pglazybegin.py``), and reads volumes and tags in one statement. With the reads inline on the loops
(``cloudctl/db/pginline.py``, forced ``on``) revocation still holds at once and a GET
still sees the latest PUT; a locked table costs the loop one statement timeout and the
GET waits awaited while both workers answer; terminated inline connections are
replaced. The head-start test runs with the reads awaited (``off``): inline, a GET
takes no head start.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.infra import postgres
from tests.support import LiveCloud, new_cloud, run_cloud

_LOGGED = re.compile(r"^reads\|.*LOG:  (statement|execute [^:]*): ", re.MULTILINE)


@pytest.fixture(scope="module")
def pg_logged() -> Iterator[postgres.PostgresServer]:
    """A private server logging every statement, each line prefixed with its database."""
    server = postgres.start_postgres()
    postgres._as_postgres([
        str(postgres.PG_BIN / "psql"), "-h", str(server.root), "-p", str(server.port),
        "-c", "ALTER SYSTEM SET log_statement = 'all'",
        "-c", "ALTER SYSTEM SET log_line_prefix = '%d|'", "-c", "SELECT pg_reload_conf()"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pg_cloud(pg_logged: postgres.PostgresServer) -> Iterator[LiveCloud]:
    yield from run_cloud(new_cloud(pg_logged.create_database("reads")), workers=2)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return (str(exc.value.response["Error"]["Code"]),
            int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]))


def _user_keys(cloud: LiveCloud, name: str) -> dict[str, str]:
    iam = cloud.client("iam")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}


def test_revoked_key_refused_at_once_by_every_worker(pg_cloud: LiveCloud) -> None:
    _refused_at_once(pg_cloud, "revoked")


def test_revoked_key_refused_at_once_with_inline_reads(pg_cloud: LiveCloud,
                                                       inline_reads: None) -> None:
    """The epoch read inline on each worker's loop, shared by one loop turn."""
    _refused_at_once(pg_cloud, "revoked-inline")
    got = pg_cloud.client("s3")
    got.create_bucket(Bucket="reads-inline")
    for round_ in range(8):  # a GET sees the PUT acknowledged before it was sent
        body = f"inline {round_}".encode()
        pg_cloud.client("s3").put_object(Bucket="reads-inline", Key="k", Body=body)
        for _ in range(3):
            assert pg_cloud.client("s3").get_object(Bucket="reads-inline",
                                                    Key="k")["Body"].read() == body


def _refused_at_once(pg_cloud: LiveCloud, name: str) -> None:
    cloud, iam = pg_cloud, pg_cloud.client("iam")
    kw = _user_keys(cloud, name)
    # each client opens its own connection: both workers cache the credential
    for _ in range(16):
        assert cloud.client("sts", **kw).get_caller_identity()["Arn"].endswith(f":user/{name}")
    iam.update_access_key(UserName=name, AccessKeyId=kw["access_key"], Status="Inactive")
    for _ in range(16):
        with pytest.raises(ClientError) as err:
            cloud.client("sts", **kw).get_caller_identity()
        assert _code(err) == ("InvalidClientTokenId", 403)
    iam.update_access_key(UserName=name, AccessKeyId=kw["access_key"], Status="Active")
    for _ in range(16):
        assert cloud.client("sts", **kw).get_caller_identity()["Arn"].endswith(f":user/{name}")
    iam.delete_access_key(UserName=name, AccessKeyId=kw["access_key"])
    for _ in range(16):
        with pytest.raises(ClientError) as err:
            cloud.client("sts", **kw).get_caller_identity()
        assert _code(err) == ("InvalidClientTokenId", 403)


def test_get_sees_the_latest_put_and_a_delete_on_every_worker(pg_cloud: LiveCloud) -> None:
    cloud, s3 = pg_cloud, pg_cloud.client("s3")
    s3.create_bucket(Bucket="reads")
    s3.put_object(Bucket="reads", Key="k", Body=b"first")
    for _ in range(8):  # both workers have read it (and cached the bucket)
        assert cloud.client("s3").get_object(Bucket="reads", Key="k")["Body"].read() == b"first"
    for round_ in range(6):
        body = f"body {round_}".encode()
        etag = s3.put_object(Bucket="reads", Key="k", Body=body)["ETag"]
        for _ in range(4):
            client = cloud.client("s3")
            got = client.get_object(Bucket="reads", Key="k")
            assert (got["Body"].read(), got["ETag"]) == (body, etag)
            assert client.head_object(Bucket="reads", Key="k")["ContentLength"] == len(body)
    s3.delete_object(Bucket="reads", Key="k")
    for _ in range(8):
        with pytest.raises(ClientError) as err:
            cloud.client("s3").get_object(Bucket="reads", Key="k")
        assert _code(err) == ("NoSuchKey", 404)
    # a versioned bucket: the delete marker is current, then the old version again
    s3.create_bucket(Bucket="reads-versioned")
    s3.put_bucket_versioning(Bucket="reads-versioned",
                             VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="reads-versioned", Key="v", Body=b"kept")
    marker = s3.delete_object(Bucket="reads-versioned", Key="v")
    for _ in range(6):
        with pytest.raises(ClientError) as err:
            cloud.client("s3").get_object(Bucket="reads-versioned", Key="v")
        assert _code(err) == ("NoSuchKey", 404)
        headers = err.value.response["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-amz-delete-marker"] == "true"
    s3.delete_object(Bucket="reads-versioned", Key="v", VersionId=marker["VersionId"])
    for _ in range(6):
        assert cloud.client("s3").get_object(Bucket="reads-versioned",
                                             Key="v")["Body"].read() == b"kept"
    # a deleted bucket is gone for every worker once its cached row expires (1 s)
    s3.delete_object(Bucket="reads-versioned", Key="v", VersionId=s3.list_object_versions(
        Bucket="reads-versioned")["Versions"][0]["VersionId"])
    s3.delete_bucket(Bucket="reads-versioned")
    time.sleep(1.2)
    for _ in range(6):
        with pytest.raises(ClientError) as err:
            cloud.client("s3").get_object(Bucket="reads-versioned", Key="v")
        assert _code(err) == ("NoSuchBucket", 404)


def test_get_user_answers_and_fails_as_before(pg_cloud: LiveCloud) -> None:
    cloud, iam = pg_cloud, pg_cloud.client("iam")
    created = iam.create_user(UserName="Reader", Path="/team/",
                              Tags=[{"Key": "k", "Value": "v"}])["User"]
    got = iam.get_user(UserName="reader")["User"]  # names match in any case
    assert {k: got[k] for k in ("Path", "UserName", "UserId", "Arn", "CreateDate")} == \
        {k: created[k] for k in ("Path", "UserName", "UserId", "Arn", "CreateDate")}
    assert got["Tags"] == [{"Key": "k", "Value": "v"}]
    with pytest.raises(ClientError) as err:
        iam.get_user(UserName="nobody")
    assert _code(err) == ("NoSuchEntity", 404)
    assert err.value.response["Error"]["Message"] == \
        "The user with name nobody cannot be found."
    admin = iam.get_user()["User"]  # no name: the caller's own user
    assert admin["Arn"] == f"arn:aws:iam::{cloud.account_id}:user/admin"
    kw = _user_keys(cloud, "self-reader")
    own = cloud.client("iam", **kw)
    iam.put_user_policy(UserName="self-reader", PolicyName="p", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "iam:GetUser", "Resource": "*"}]}'))
    assert own.get_user()["User"]["UserName"] == "self-reader"  # the caller's own name
    # a role session has no user name of its own
    iam.create_role(RoleName="reads-role", AssumeRolePolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
        f'{{"AWS": "arn:aws:iam::{cloud.account_id}:root"}}, "Action": "sts:AssumeRole"}}]}}'))
    iam.put_role_policy(RoleName="reads-role", PolicyName="p", PolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
        '"Action": "iam:GetUser", "Resource": "*"}]}'))
    creds = cloud.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{cloud.account_id}:role/reads-role",
        RoleSessionName="reads")["Credentials"]
    session = cloud.client("iam", access_key=creds["AccessKeyId"],
                           secret_key=creds["SecretAccessKey"], token=creds["SessionToken"])
    with pytest.raises(ClientError) as err:
        session.get_user()
    assert _code(err) == ("ValidationError", 400)


def _statements(pg: postgres.PostgresServer, start: int) -> tuple[int, int]:
    """Statements the cloud's database ran since log offset ``start``, and BEGINs."""
    with (pg.root / "server.log").open("rb") as handle:
        handle.seek(start)
        text = handle.read().decode(errors="replace")
    lines = [line for line in text.splitlines() if _LOGGED.match(line)]
    return len(lines), sum(1 for line in lines if line.rstrip().endswith(": BEGIN"))


def test_a_get_costs_two_statements(pg_cloud: LiveCloud, pg_logged: Any) -> None:
    """The epoch and the object, no BEGIN (a session's GET ran six: two BEGIN, SELECT,
    ROLLBACK). Background loops run statements too: the quietest of a few windows."""
    s3 = pg_cloud.client("s3")
    s3.create_bucket(Bucket="reads-count")
    s3.put_object(Bucket="reads-count", Key="k", Body=b"x" * 100)
    s3.get_object(Bucket="reads-count", Key="k")["Body"].read()
    log, requests, per_get = pg_logged.root / "server.log", 20, []
    for _ in range(5):
        start = log.stat().st_size
        for _ in range(requests):
            s3.get_object(Bucket="reads-count", Key="k")["Body"].read()
        time.sleep(0.2)  # the server writes its log lines
        count, begins = _statements(pg_logged, start)
        per_get.append((count / requests, begins / requests))
    statements, begins = min(per_get)
    assert statements <= 2.3 and begins <= 0.2, per_get


def _quietest(pg: postgres.PostgresServer, call: Any, requests: int = 20) -> tuple[float, float]:
    """(statements, BEGINs) a ``call``, over the quietest of five windows (background
    loops run statements too)."""
    log, per_call = pg.root / "server.log", []
    for _ in range(5):
        start = log.stat().st_size
        for _ in range(requests):
            call()
        time.sleep(0.2)  # the server writes its log lines
        count, begins = _statements(pg, start)
        per_call.append((count / requests, begins / requests))
    return min(per_call)


def test_a_read_only_session_sends_no_begin(pg_cloud: LiveCloud, pg_logged: Any) -> None:
    """DescribeVolumes: the epoch, then the session's reads without BEGIN and ROLLBACK
    (5.07 statements a call with them, 1.02 of them BEGIN): the whole list's volumes and
    their tags, a page's volumes joined with their tags in one statement (it was two)."""
    ec2 = pg_cloud.client("ec2")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    for n in range(3):
        ec2.create_volume(AvailabilityZone=zone, Size=1, TagSpecifications=[{
            "ResourceType": "volume", "Tags": [{"Key": "n", "Value": str(n)},
                                               {"Key": "role", "Value": "count"}]}])
    assert all(len(v["Tags"]) == 2 for v in ec2.describe_volumes()["Volumes"])
    page = ec2.describe_volumes(MaxResults=5)["Volumes"]
    assert [sorted(t["Key"] for t in v["Tags"]) for v in page] == [["n", "role"]] * 3
    statements, begins = _quietest(pg_logged, ec2.describe_volumes)
    assert statements <= 3.3 and begins <= 0.2, (statements, begins)
    statements, begins = _quietest(pg_logged, lambda: ec2.describe_volumes(MaxResults=5))
    assert statements <= 2.3 and begins <= 0.2, (statements, begins)


@pytest.fixture
def awaited_reads(pg_cloud: LiveCloud) -> Iterator[None]:
    """Reads awaited, not inline on the loop (``cloudctl/db/pginline.py``), in every
    worker (each polls the properties once a second)."""
    pg_cloud.set_properties("db.postgres_inline_reads=off")
    time.sleep(1.5)
    yield
    pg_cloud.reset_properties("db.postgres_inline_reads")
    time.sleep(1.5)


def test_a_get_reads_its_object_while_it_is_authenticated(pg_cloud: LiveCloud, pg_logged: Any,
                                                          awaited_reads: None) -> None:
    """Reads awaited (inline, a GET's reads take no loop pass and need no head start):
    the epoch table locked, the GET's epoch read waits: its object read has run
    meanwhile (after authentication it would not run until the lock went)."""
    s3 = pg_cloud.client("s3")
    s3.create_bucket(Bucket="reads-early")
    s3.put_object(Bucket="reads-early", Key="a/b c", Body=b"early")
    assert s3.get_object(Bucket="reads-early", Key="a/b c")["Body"].read() == b"early"
    url = pg_logged.url("reads").replace("+psycopg", "")
    log = pg_logged.root / "server.log"
    got: list[bytes] = []
    with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
        locker.execute("LOCK TABLE iam_credential_epoch IN ACCESS EXCLUSIVE MODE")
        start = log.stat().st_size
        getter = threading.Thread(target=lambda: got.append(s3.get_object(
            Bucket="reads-early", Key="a/b c")["Body"].read()))
        getter.start()
        try:
            assert _lock_waiter(watcher, "iam_credential_epoch"), \
                "the GET's epoch read never waited for the lock"
            time.sleep(0.3)  # the server writes its log lines
            with log.open("rb") as handle:
                handle.seek(start)
                logged = handle.read().decode(errors="replace")
            assert "$1 = 'reads-early', $2 = 'a/b c'" in logged, logged[-3000:]
            assert not got  # still waiting for the epoch
        finally:
            locker.rollback()
            getter.join(30)
    assert got == [b"early"]
    # a refused GET answers its error, not the object read already started
    stranger = pg_cloud.client("s3", access_key=pg_cloud.access_key, secret_key="wrong")
    with pytest.raises(ClientError) as err:
        stranger.get_object(Bucket="reads-early", Key="a/b c")
    assert _code(err) == ("SignatureDoesNotMatch", 403)


def _lock_waiter(watcher: Any, table: str) -> bool:
    """Whether, within 10 s, an awaited statement of database ``reads`` naming ``table``
    waits for a lock (inline reads give up instead: they are not counted)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = 'reads' AND "
                "wait_event_type = 'Lock' AND query LIKE %s AND "
                "application_name <> 'cloudctl-inline-reads'",
                (f"%{table}%",)).fetchall()[0][0]:
            return True
    return False


def _timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


@pytest.fixture
def inline_reads(pg_cloud: LiveCloud) -> Iterator[None]:
    """Reads inline whatever the round trips of a busy test host."""
    pg_cloud.set_properties("db.postgres_inline_reads=on")
    time.sleep(1.5)
    yield
    pg_cloud.reset_properties("db.postgres_inline_reads")
    time.sleep(1.5)


def test_a_locked_table_or_a_killed_backend_does_not_stall_the_loop(
        pg_cloud: LiveCloud, pg_logged: Any, inline_reads: None) -> None:
    """Reads inline: a GET whose inline object read finds ``s3_objects`` locked: the server cancels
    it after the statement timeout, the GET waits awaited for the lock while both
    workers answer other requests, and answers once it goes. Inline connections
    terminated: the next requests read awaited, then inline again."""
    s3 = pg_cloud.client("s3")
    s3.create_bucket(Bucket="reads-locked")
    s3.put_object(Bucket="reads-locked", Key="k", Body=b"locked")
    for _ in range(8):  # both workers have opened their inline connections
        assert pg_cloud.client("s3").get_object(Bucket="reads-locked",
                                                Key="k")["Body"].read() == b"locked"
    url = pg_logged.url("reads").replace("+psycopg", "")
    log = pg_logged.root / "server.log"
    got: list[bytes] = []
    with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
        start = log.stat().st_size
        locker.execute("LOCK TABLE s3_objects IN ACCESS EXCLUSIVE MODE")
        getter = threading.Thread(target=lambda: got.append(s3.get_object(
            Bucket="reads-locked", Key="k")["Body"].read()))
        getter.start()
        try:
            assert _lock_waiter(watcher, "s3_objects"), \
                "the GET's awaited read never waited for the lock"
            # each client opens its own connection: both workers answer meanwhile
            times = [_timed(pg_cloud.client("sts").get_caller_identity) for _ in range(16)]
            assert max(times) < 1.0, times
            assert not got
            time.sleep(0.3)  # the server writes its log lines
            with log.open("rb") as handle:
                handle.seek(start)
                logged = handle.read().decode(errors="replace")
            assert "canceling statement due to statement timeout" in logged, logged[-3000:]
        finally:
            locker.rollback()
            getter.join(30)
        assert got == [b"locked"]
        ended = watcher.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = 'reads' AND application_name = 'cloudctl-inline-reads'"
        ).fetchall()[0][0]
        assert ended >= 1
        for _ in range(16):
            assert pg_cloud.client("s3").get_object(Bucket="reads-locked",
                                                    Key="k")["Body"].read() == b"locked"
            assert pg_cloud.client("sts").get_caller_identity()["Account"]
        time.sleep(0.5)
        reopened = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = 'reads' AND application_name = 'cloudctl-inline-reads'"
        ).fetchall()[0][0]
        assert reopened >= 1  # inline again


def test_a_read_answers_while_the_writers_hold_every_connection(pg_cloud: LiveCloud,
                                                                 pg_logged: Any) -> None:
    """The volumes table locked against writes (EXCLUSIVE: plain SELECTs go on), 100
    CreateVolume requests wait in the two workers, holding every connection of their
    pools (32 each): DescribeVolumes still answers at once, from the read operations'
    pool (``cloudctl/db/readpool.py``; it waited for a writer's connection, here until
    the lock went), with a key whose credential is loaded meanwhile. Then every
    CreateVolume completes."""
    ec2 = pg_cloud.client("ec2")
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    writers = pg_cloud.client("ec2", config=Config(
        max_pool_connections=128, retries={"max_attempts": 1}, read_timeout=120))
    url = pg_logged.url("reads").replace("+psycopg", "")
    made: list[str] = []
    failed: list[BaseException] = []

    def create() -> None:
        try:
            made.append(writers.create_volume(AvailabilityZone=zone, Size=1)["VolumeId"])
        except BaseException as exc:  # reported below
            failed.append(exc)

    key = pg_cloud.client("iam").create_access_key()["AccessKey"]
    fresh = {"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    with psycopg.connect(url) as locker, psycopg.connect(url, autocommit=True) as watcher:
        locker.execute("LOCK TABLE ebs_volumes IN EXCLUSIVE MODE")
        threads = [threading.Thread(target=create) for _ in range(100)]
        try:
            for thread in threads:
                thread.start()
            # the cloud's connections grow to both pools' limits (32 a worker), then stay
            deadline, seen = time.monotonic() + 30, [0]
            while time.monotonic() < deadline and (seen[-1] < 2 * 32 or len(seen) < 8
                                                   or len(set(seen[-8:])) > 1):
                time.sleep(0.2)
                seen.append(watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'reads' AND "
                    "application_name LIKE 'cloudctl:%%'").fetchall()[0][0])
            assert seen[-1] >= 2 * 32 and len(set(seen[-8:])) == 1, seen
            # clients of their own: connections of their own, to either worker; a key
            # never used yet: its credential is loaded (on the read pool too)
            readers = [pg_cloud.client("ec2", config=Config(retries={"max_attempts": 1},
                                                            read_timeout=20), **fresh)
                       for _ in range(6)]
            times = [_timed(functools.partial(reader.describe_volumes, MaxResults=5))
                     for reader in readers]
            assert max(times) < 2.0, times
            assert not made and not failed
        finally:
            locker.rollback()
            for thread in threads:
                thread.join(120)
    assert not failed, failed[:3]
    assert len(made) == 100
    listed = {v["VolumeId"] for v in ec2.describe_volumes(VolumeIds=made)["Volumes"]}
    assert listed == set(made)
