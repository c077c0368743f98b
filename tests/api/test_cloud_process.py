"""The cloud as an administrator runs it: init, credentials files, workers, signals, skew."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.api.test_front_door import mock_clock
from tests.support import LiveCloud, new_cloud


def test_init_is_idempotent(tmp_path: Path) -> None:
    env = dict(os.environ, CLOUDCTL_DATA_DIR=str(tmp_path / "data"))
    first = json.loads(subprocess.run([sys.executable, "-m", "cloudctl", "--output", "json", "init"],
                                      env=env, capture_output=True, text=True, check=True).stdout)
    again = json.loads(subprocess.run([sys.executable, "-m", "cloudctl", "--output", "json", "init"],
                                      env=env, capture_output=True, text=True, check=True).stdout)
    assert first["created_key"] is True and again["created_key"] is False
    assert first["admin_access_key_id"] == again["admin_access_key_id"]
    assert first["account_id"] == again["account_id"] and len(first["account_id"]) == 12
    data = tmp_path / "data"
    assert (data / "ca" / "ca.pem").exists()
    assert (data / "ca" / "services" / "nodectl.pem").exists()
    assert oct((data / "keys" / "master.key").stat().st_mode & 0o777) == "0o600"
    db = subprocess.run([sys.executable, "-m", "cloudctl", "--output", "json", "db", "current"],
                        env=env, capture_output=True, text=True, check=True)
    assert json.loads(db.stdout)["revision"]
    # the secret never sits in the database in clear
    secret = json.loads(subprocess.run(
        [sys.executable, "-m", "cloudctl", "--output", "json", "credentials"], env=env,
        capture_output=True, text=True, check=True).stdout)["SecretAccessKey"]
    assert secret.encode() not in (data / "cloud.db").read_bytes()


def test_credential_files_work_with_clients(sqlite_cloud: LiveCloud, tmp_path: Path) -> None:
    cloud = sqlite_cloud
    aws_text = cloud.cli("credentials", "--format", "aws").stdout
    config, _, creds = aws_text.partition("# ~/.aws/credentials")
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(creds)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"))
    out = subprocess.run([sys.executable, "-m", "awscli", "--profile", "eucalyptus-admin",
                          "sts", "get-caller-identity"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Account"] == cloud.account_id

    eucarc = cloud.cli("credentials", "--format", "eucarc").stdout
    (tmp_path / "eucarc").write_text(eucarc)
    script = (f". {tmp_path / 'eucarc'} && {sys.executable} -m awscli --endpoint-url \"$EC2_URL\" "
              "--output json ec2 describe-regions")
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Regions"][0]["RegionName"] == "eucalyptus"
    for name in ("S3_URL", "AWS_IAM_URL", "TOKEN_URL", "AWS_AUTO_SCALING_URL", "AWS_ELB_URL",
                 "AWS_CLOUDWATCH_URL", "AWS_CLOUDFORMATION_URL", "EUCA_PROPERTIES_URL"):
        assert f"export {name}=http://127.0.0.1:{cloud.port}/services/" in eucarc

    ini = cloud.cli("credentials", "--format", "ini").stdout
    assert f"[user {cloud.account_id}:admin]" in ini and f"key-id = {cloud.access_key}" in ini
    assert f"ec2-url = http://127.0.0.1:{cloud.port}/services/compute" in ini


def test_unknown_account_is_a_clean_error(sqlite_cloud: LiveCloud) -> None:
    out = sqlite_cloud.cli("credentials", "--account", "nobody", check=False)
    assert out.returncode == 1 and "no such account: nobody" in out.stderr
    assert "Traceback" not in out.stderr


def test_clock_skew_property(sqlite_cloud: LiveCloud) -> None:
    cloud = sqlite_cloud
    props = cloud.client("properties", path="/services/Properties")
    sts = cloud.client("sts")
    ten_minutes_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    with mock_clock(ten_minutes_ago):
        sts.get_caller_identity()  # within the default 15 minutes
    props.modify_property_value(Name="bootstrap.webservices.clock_skew_sec", Value="60")
    try:
        time.sleep(0.2)
        with mock_clock(ten_minutes_ago), pytest.raises(ClientError) as err:
            sts.get_caller_identity()
        assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        assert "expired" in err.value.response["Error"]["Message"].lower()
    finally:
        props.modify_property_value(Name="bootstrap.webservices.clock_skew_sec", Reset=True)


@pytest.fixture
def two_worker_cloud() -> Iterator[LiveCloud]:
    cloud = new_cloud()
    cloud.start(workers=2)
    yield cloud
    cloud.stop()
    shutil.rmtree(cloud.data_dir, ignore_errors=True)


def test_workers_share_the_port_and_stop_cleanly(two_worker_cloud: LiveCloud) -> None:
    import urllib.request

    cloud = two_worker_cloud
    pids = set()
    for _ in range(40):
        with urllib.request.urlopen(cloud.endpoint + "/_cloud/health", timeout=5) as resp:
            pids.add(json.loads(resp.read())["pid"])
        cloud.client("sts").get_caller_identity()
    assert len(pids) == 2, "both workers answer"
    assert cloud.process is not None
    assert cloud.process.pid not in pids, "the parent supervises, the workers serve"
    started = time.monotonic()
    cloud.process.send_signal(signal.SIGTERM)
    assert cloud.process.wait(timeout=20) == 0
    assert time.monotonic() - started < 10
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


_SLOW_FIRST_WORKER = """
import sys, time
from cloudctl.config import load_settings
from cloudctl.server.app import configure_logging, serve
from cloudctl.services.catalog import assemble, preload

def slow_first(cloud):  # worker 0 (the one that registers the local node) starts late
    if cloud.worker_index == 0:
        time.sleep(float(sys.argv[2]))
    assemble(cloud)

configure_logging()
serve(load_settings(), slow_first, "127.0.0.1", int(sys.argv[1]), workers=2,
      on_ready=lambda: print("READY", time.time(), flush=True), prepare=preload)
"""


def test_health_answers_starting_until_every_worker_serves(tmp_path: Path) -> None:
    """Any worker may answer a health check: until the last one serves (worker 0 registers
    the local node first) each answers 503 ``starting``, and only then is the cloud said
    up; a client waiting for either never meets a cloud without its node."""
    import urllib.error
    import urllib.request

    cloud = new_cloud()
    cloud.init()
    script = tmp_path / "slow_first.py"
    script.write_text(_SLOW_FIRST_WORKER)
    delay = 4.0
    proc = subprocess.Popen([sys.executable, str(script), str(cloud.port), str(delay)],
                            env=dict(cloud.env(), CLOUDCTL_LOCAL_NODE="fake",
                                     PYTHONPATH=str(Path(__file__).resolve().parents[2])),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        answers: list[tuple[float, int, str, int]] = []
        began = time.time()
        while time.time() - began < 60:
            try:
                with urllib.request.urlopen(cloud.endpoint + "/_cloud/health", timeout=2) as r:
                    body = json.loads(r.read())
                    answers.append((time.time(), r.status, body["status"], body["worker"]))
                    break
            except urllib.error.HTTPError as exc:
                body = json.loads(exc.read())
                answers.append((time.time(), exc.code, body["status"], body["worker"]))
            except OSError:
                pass
            time.sleep(0.05)
        starting = [a for a in answers if a[1] == 503]
        # worker 1 served seconds before worker 0: it said so, and did not claim the cloud
        assert starting and {a[2] for a in starting} == {"starting"}
        assert {a[3] for a in starting} == {1}
        assert starting[-1][0] - starting[0][0] > delay / 2
        assert answers[-1][1] == 200 and answers[-1][2] == "ok"
        ready_line = proc.stdout.readline() if proc.stdout else ""
        assert ready_line.startswith("READY")
        assert float(ready_line.split()[1]) <= answers[-1][0]
        # the node worker 0 registered before it served offers its capacity at once
        cloud.access_key, cloud.secret_key, cloud.account_id = cloud.credentials()
        offered = cloud.client("ec2").describe_instance_types(
            InstanceTypes=["t1.micro", "verbose"])["InstanceTypes"][0]["Availability"]
        assert sum(zone["Available"] for zone in offered) > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        shutil.rmtree(cloud.data_dir, ignore_errors=True)


def test_a_stop_is_bounded_while_a_thread_is_stuck_in_a_blocking_call() -> None:
    """SIGTERM while a worker's thread sits in a call that cannot be interrupted (here
    the write gate's thread waiting for a database lock another process holds; in the
    wild a Ceph delete): the single worker of ``--workers 1`` ends within its stop grace
    (asyncio.run would otherwise wait for that thread forever), after running the host's
    clean-up (here: the endpoint record it wrote is removed; with a private libvirtd, the
    daemon and its guests are stopped)."""
    import fcntl
    import threading

    from botocore.config import Config
    from botocore.exceptions import ReadTimeoutError

    from cloudctl.server.app import STOP_GRACE

    cloud = new_cloud()
    cloud.start(workers=1)
    assert (cloud.data_dir / "endpoint").exists()
    lock = os.open(str(cloud.data_dir / "cloud.db-writer.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        iam = cloud.client("iam", config=Config(read_timeout=2, retries={"max_attempts": 1}))
        stuck: list[ReadTimeoutError] = []

        def write() -> None:
            try:
                iam.create_user(UserName="stuck")
            except ReadTimeoutError as exc:
                stuck.append(exc)

        caller = threading.Thread(target=write, daemon=True)
        caller.start()
        caller.join(timeout=10)
        assert stuck, "the write waits for the lock held here"
        assert cloud.process is not None and cloud.process.poll() is None
        started = time.monotonic()
        cloud.process.send_signal(signal.SIGTERM)
        try:
            cloud.process.wait(timeout=STOP_GRACE + 6)
        except subprocess.TimeoutExpired:
            pytest.fail("the cloud did not stop while a thread was blocked")
        assert time.monotonic() - started <= STOP_GRACE + 3
        assert cloud.process.returncode == 1
        assert "a thread is stuck in a blocking call" in cloud.log_path.read_text()
        assert not (cloud.data_dir / "endpoint").exists(), "the clean-up ran"
    finally:
        os.close(lock)
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
