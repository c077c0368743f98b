"""A live cloud for tests: ``cloudctl up`` in a subprocess, and real clients for it.

Tests talk to it only the way users do: boto3, the AWS CLI, s3cmd, plain HTTP.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

from tests.infra.postgres import free_port

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "cloudctl" / "models"
# v1 runs through tests/infra/fastpoll.py: its waiters (``cloudformation deploy``: 30 s
# between reads of the stack) poll ten times as often
AWS_CLI = {1: [sys.executable, str(REPO / "tests" / "infra" / "fastpoll.py"), "-m", "awscli"],
           2: ["/usr/bin/aws"]}
# seconds from ``cloudctl up`` to healthy, one per LiveCloud.start (tests/processes.py)
STARTS: list[float] = []


@dataclass
class LiveCloud:
    data_dir: Path
    port: int
    database_url: str | None
    process: subprocess.Popen[bytes] | None = None
    access_key: str = ""
    secret_key: str = ""
    account_id: str = ""
    log_path: Path = field(default_factory=Path)
    region: str = "eucalyptus"
    # the all-in-one node (``cloudctl up --node``): fake guests unless a test asks for
    # real ones (``private``) or points CLOUDCTL_LOCAL_NODE at a libvirtd of its own
    node: str | None = None
    # the network mode of the new cloud (``--network-mode``): EDGE, pinned, for the API
    # tests on fake guests (no ZooKeeper); VPC fixtures say "VPC" or None (the default of
    # ``cloudctl up``, which is VPC)
    network_mode: str | None = "EDGE"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CLOUDCTL_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["CLOUDCTL_DATABASE_URL"] = self.database_url
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cloudctl", "--endpoint", self.endpoint, *args],
                              env=self.env(), capture_output=True, text=True, timeout=120,
                              check=check)

    def set_properties(self, *items: str) -> None:
        """``cloudctl property set NAME=VALUE...`` without a CLI process: the same
        ModifyPropertyValue calls of the Properties API, as the cloud's administrator."""
        props = self.client("properties", path="/services/Properties")
        for item in items:
            name, sep, value = item.partition("=")
            assert sep and not value.startswith("@"), item
            props.modify_property_value(Name=name.strip(), Value=value)

    def reset_properties(self, *names: str) -> None:
        """``cloudctl property reset NAME...`` without a CLI process (ModifyPropertyValue
        with Reset)."""
        props = self.client("properties", path="/services/Properties")
        for name in names:
            props.modify_property_value(Name=name, Reset=True)

    def node_args(self) -> list[str]:
        """``--node`` for ``cloudctl up``: ``node`` if set ("" passes none), else fake
        unless CLOUDCTL_LOCAL_NODE chooses."""
        node = self.node
        if node is None:
            node = "" if os.environ.get("CLOUDCTL_LOCAL_NODE") else "fake"
        return ["--node", node] if node else []

    def mode_args(self) -> list[str]:
        return ["--network-mode", self.network_mode] if self.network_mode else []

    def init(self, *args: str) -> None:
        """``cloudctl init`` of this (new) cloud, in its network mode."""
        subprocess.run([sys.executable, "-m", "cloudctl", "init", *self.mode_args(), *args],
                       env=self.env(), check=True, capture_output=True, timeout=120)

    def start(self, workers: int = 1, timeout: float = 60) -> None:
        self.log_path = self.data_dir / "server.log"
        began = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cloudctl", "up", "--listen", f"127.0.0.1:{self.port}",
                 "--workers", str(workers), *self.node_args(), *self.mode_args()],
                env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cloud exited: {self.log_path.read_text()[-4000:]}")
            try:  # 200 once every worker serves (cloudctl.server.app: Readiness)
                with urllib.request.urlopen(f"{self.endpoint}/_cloud/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            raise RuntimeError(f"cloud did not come up: {self.log_path.read_text()[-4000:]}")
        STARTS.append(time.monotonic() - began)
        self.access_key, self.secret_key, self.account_id = self.credentials()

    def credentials(self, account: str = "eucalyptus", user: str = "admin") -> tuple[str, str, str]:
        """(access key, secret key, account id) of ``account``/``user``: what ``cloudctl
        credentials --account ACCOUNT --user USER`` prints (the same ``user_key`` reads
        the database and issues a key if the user has none), without a CLI process.

        Every start of a live cloud read its admin key through the CLI, a new Python
        process importing the CLI and the models (0.6 s idle, over 1 s on a loaded
        machine) per start; ``tests/api/test_cloud_process.py`` tests the command itself.
        """
        from cloudctl.cli.adminclient import user_key
        from cloudctl.config import load_settings

        key = user_key(load_settings(self.data_dir, self.database_url), account, user)
        return key.access_key_id, key.secret_access_key, key.account_id

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is not None and self.process.returncode != 0:
            # it died on its own: show why (pytest prints captured output of failures)
            print(f"cloud exited with {self.process.returncode}; log tail:\n"
                  + self.log_path.read_text(errors="replace")[-6000:])
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def session(self, access_key: str | None = None, secret_key: str | None = None,
                token: str | None = None) -> boto3.Session:
        core = botocore.session.get_session()
        core.register_component("data_loader", _models_loader())
        return boto3.Session(aws_access_key_id=access_key or self.access_key,
                             aws_secret_access_key=secret_key or self.secret_key,
                             aws_session_token=token, region_name=self.region,
                             botocore_session=core)

    def client(self, service: str, *, path: str = "", **kwargs: Any) -> Any:
        session = _client_session(kwargs.pop("access_key", None) or self.access_key,
                                  kwargs.pop("secret_key", None) or self.secret_key,
                                  kwargs.pop("token", None), self.region)
        config = kwargs.pop("config", Config(retries={"max_attempts": 1}))
        return session.client(service, endpoint_url=self.endpoint + path, config=config, **kwargs)

    def aws(self, *args: str, check: bool = True, access_key: str | None = None,
            secret_key: str | None = None, version: int = 1) -> subprocess.CompletedProcess[str]:
        """The AWS CLI against this cloud, JSON output: v1 from PyPI, v2 from Debian."""
        env = self.env()
        env.update({"AWS_ACCESS_KEY_ID": access_key or self.access_key,
                    "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
                    "AWS_DEFAULT_REGION": self.region, "AWS_DATA_PATH": str(MODELS),
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    "AWS_MAX_ATTEMPTS": "1"})
        env.pop("AWS_PROFILE", None)
        return subprocess.run([*AWS_CLI[version], "--endpoint-url", self.endpoint,
                               "--output", "json", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=check)


_SESSIONS = threading.local()


def _client_session(access_key: str, secret_key: str, token: str | None,
                    region: str) -> boto3.Session:
    """The boto3 session ``LiveCloud.client`` makes its clients from: one per thread and
    set of credentials, made once. Each client is still new (its own connections and
    event handlers); only what a session builds for every client it makes (service
    models, endpoint data, client classes) is not rebuilt for each of the thousands of
    clients the tests make in their polls. Per thread, as a boto3 session is not safe
    to share between threads (``session()`` still gives a new one)."""
    sessions: dict[tuple[str, str, str | None, str], boto3.Session] = \
        _SESSIONS.__dict__.setdefault("by_key", {})
    key = (access_key, secret_key, token, region)
    found = sessions.pop(key, None)  # re-inserted last: the most recently used
    if found is None:
        if len(sessions) >= 16:  # a test that made many accounts: keep the latest ones
            del sessions[next(iter(sessions))]
        core = botocore.session.get_session()
        core.register_component("data_loader", _models_loader())
        found = boto3.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            aws_session_token=token, region_name=region, botocore_session=core)
    sessions[key] = found
    return found


@cache
def _models_loader() -> botocore.loaders.Loader:
    """One botocore loader (the cloud's models first) for every client of the run.

    A loader caches the service models it read; a new one per session re-read and
    re-parsed the EC2 model (megabytes of JSON) for every client, about 0.2 s idle and
    over 1 s on a loaded machine, and helpers make clients in their polls."""
    loader = botocore.loaders.create_loader()
    loader.search_paths.insert(0, str(MODELS))
    return loader


def console_text(answer: Any) -> str:
    """A GetConsoleOutput answer's ``Output`` as text: boto3 hands on the base64 the API
    sends, AWS CLI v1 decodes it itself; both are read."""
    text = answer.get("Output") or ""
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except ValueError:
        return str(text)


def libvirt_env(daemon: Any) -> dict[str, str]:
    """The environment that points a live cloud's local node at a private libvirtd
    (``nodectl.libvirtd.PrivateLibvirtd``) with real guests."""
    return {"CLOUDCTL_LOCAL_NODE": "libvirt", "CLOUDCTL_LIBVIRT_URI": daemon.uri,
            "CLOUDCTL_DEMO_IMAGE": "0", "CLOUDCTL_STOP_GRACE": "5"}


def teardown_local_network(cloud: LiveCloud, netns: str) -> None:
    """Remove what netd set up for the all-in-one host ``local`` in ``netns`` (bridge,
    nftables, dnsmasq, metadata proxy): a cloud whose local node ran on a private
    libvirtd leaves them on purpose (guests keep their network across restarts), and
    the next cloud in the same namespace must not meet them."""
    from netd import host as netd_host

    netd_host.teardown(netd_host.HostConfig(netns=netns, host="local",
                                            state_dir=cloud.data_dir / "netd" / "local"))


def wait_for(fn: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``fn`` until it returns something truthy (returned), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def new_cloud(database_url: str | None = None) -> LiveCloud:
    data_dir = Path(tempfile.mkdtemp(prefix="cloudctl-test-"))
    return LiveCloud(data_dir=data_dir, port=free_port(), database_url=database_url)


def region_cloud(region: str, zones: tuple[str, ...] = ("a", "b")) -> LiveCloud:
    """A new cloud initialised in the AWS region ``region`` with the zones ``<region>a``,
    ``<region>b``... (as AWS names them), not started."""
    cloud = new_cloud()
    cloud.init("--region", region, *[arg for z in zones for arg in ("--zone", region + z)])
    cloud.region = region
    return cloud


def run_cloud(cloud: LiveCloud, workers: int = 1) -> Iterator[LiveCloud]:
    """A fixture's body: start ``cloud``, yield it, then stop it and remove its data."""
    cloud.start(workers=workers)
    try:
        yield cloud
    finally:
        cloud.stop()
        shutil.rmtree(cloud.data_dir, ignore_errors=True)
