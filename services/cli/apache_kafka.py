"""Apache Kafka on loopback for development, tests, fault tests and benchmarks: the production engine.

The broker's jars are resolved by Maven from Maven Central into a cache folder (a small generated pom and
`mvn dependency:copy-dependencies`; nothing is downloaded by URL), the storage is formatted once (KRaft, one node
that is broker and controller) and `kafka.Kafka` runs in a JVM. Storage is on disk: a restart on the same folder
keeps topics, records and committed offsets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from services.cli.embedded import free_port, kill_process, port_open, stop_process

KAFKA_VERSION = "4.1.1"  # also the image tag in docker-compose.yml; tests/deploy checks they agree
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"  # the log4j-core that kafka_2.13 depends on; its slf4j 1.x binding lets the broker log

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.journeyline</groupId>
  <artifactId>apache-kafka-runtime</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
logger.state.name = state.change.logger
logger.state.level = warn
"""


def default_cache_dir() -> Path:
    """Where the resolved jars are kept between runs (`JOURNEYLINE_KAFKA_CACHE`, else the user's cache)."""
    configured = os.environ.get("JOURNEYLINE_KAFKA_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "journeyline" / "kafka"


def resolve_jars(cache_dir: Path | None = None, *, version: str = KAFKA_VERSION) -> Path:
    """The folder holding Apache Kafka's jars, resolved through Maven on first use; returns `<cache>/<version>/lib`."""
    home = (cache_dir or default_cache_dir()) / version
    lib = home / "lib"
    done = home / ".resolved"
    if done.exists():
        return lib
    if shutil.which("mvn") is None or shutil.which("java") is None:
        raise RuntimeError("Apache Kafka needs Java 17+ and Maven on PATH (Debian: openjdk-17-jre-headless maven)")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(kafka=version, scala=SCALA_VERSION, log4j=LOG4J_VERSION))
    shutil.rmtree(lib, ignore_errors=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={lib}", "-DincludeScope=runtime"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(
            f"Maven could not resolve Apache Kafka {version}:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    done.write_text(version)
    return lib


def cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64 without padding, as `kafka-storage random-uuid`.

    Never one that starts with '-': the storage tool would read `-t -abc...` as an option and refuse to format
    (one id in 64 did; Kafka's own random-uuid skips them for the same reason)."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


class ApacheKafka:
    """One Apache Kafka node (KRaft: broker and controller) on loopback, its storage in `data_dir`."""

    engine = "kafka"

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 9092,
        controller_port: int | None = None,
        partitions: int = 3,
        heap: str = "768m",
        log_level: str = "INFO",
        cache_dir: Path | None = None,
    ) -> None:
        self.data_dir, self.host, self.port = data_dir, host, port
        self.controller_port = controller_port or free_port(host)
        self.partitions, self.heap, self.log_level, self.cache_dir = partitions, heap, log_level, cache_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def client_env(self) -> dict[str, str]:
        """What a service needs in its environment to use this broker."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "KAFKA_ENGINE": self.engine}

    def _properties(self) -> str:
        controller = f"{self.host}:{self.controller_port}"
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{controller}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": str(self.partitions),
            "auto.create.topics.enable": "false",  # as in docker-compose.yml: the services create their topics
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",  # 50 by default: slow to create on 2 cores, no use on one node
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "3",
            "group.initial.rebalance.delay.ms": "0",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
        }
        return "".join(f"{key}={value}\n" for key, value in lines.items())

    def _java(self, lib: Path, main: str, *args: str, heap: str = "256m") -> list[str]:
        config = self.data_dir / "log4j2.properties"
        return ["java", f"-Xmx{heap}", f"-Dlog4j2.configurationFile={config}", "-cp", f"{lib}/*", main, *args]

    def start(self, timeout: float = 90.0) -> ApacheKafka:
        """Resolve, format (first time only), start and wait until the broker answers a metadata request."""
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} on {self.host} is already in use; is another broker running?")
        lib = resolve_jars(self.cache_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(self._properties())
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2.format(path=self.log_path, level=self.log_level))
        if not (self.data_dir / "logs" / "meta.properties").exists():
            subprocess.run(
                self._java(lib, "kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(config)),
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        self.process = subprocess.Popen(
            [*self._java(lib, "kafka.Kafka", str(config), heap=self.heap)],
            stdout=open(self.data_dir / "stdout.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Apache Kafka exited with code {self.process.returncode}; see {self.log_path}")
            if port_open(self.host, self.port) and _answers(self.bootstrap_servers):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Apache Kafka did not answer on {self.bootstrap_servers} within {timeout:.0f}s")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a controlled shutdown that flushes the logs), then SIGKILL after `timeout`."""
        proc, self.process = self.process, None
        stop_process(proc, timeout)

    def kill(self) -> None:
        """SIGKILL, for fault tests; the data folder stays, so `start()` resumes on it."""
        proc, self.process = self.process, None
        kill_process(proc)

    def __enter__(self) -> ApacheKafka:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _answers(bootstrap: str) -> bool:
    """True once the broker lists topics: the controller has elected itself and the broker is registered."""

    async def probe() -> bool:
        from aiokafka.admin import AIOKafkaAdminClient
        from aiokafka.errors import KafkaError

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except (KafkaError, OSError, TimeoutError):
            return False
        finally:
            with contextlib.suppress(Exception):
                await admin.close()

    outcome: list[bool] = []
    # The caller may itself run inside an event loop (an async test): probe from a thread of our own.
    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(probe())), daemon=True)
    thread.start()
    thread.join(15)
    return bool(outcome and outcome[0])
