"""`journeyline dev`: the whole system on one machine - a broker (the embedded Tansu, or Apache Kafka with
`--broker kafka`), a SQLite file and the three services."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.cli.brokers import Broker, make_broker
from services.cli.embedded import port_open
from services.ingest.settings import worker_launch
from shared.kafka import ensure_topics
from shared.settings import CommonSettings


def service_command(
    name: str, host: str, port: int, env: Mapping[str, str], run_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The command and environment that start service `name` as `journeyline dev` starts it (and `bench e2e`):
    ingest as INGEST_WORKERS processes (default one per core, each knowing its share) under `shared.serve`, whose
    workers share the connections evenly (one worker: plain uvicorn); the other services as one uvicorn process."""
    args = [f"services.{name}.main:app", "--host", host, "--port", str(port), "--no-access-log"]
    if name != "ingest":
        return [sys.executable, "-m", "uvicorn", *args], dict(env)
    extra, worker_env = worker_launch(env, run_dir)
    return [sys.executable, "-m", "shared.serve", *args, *extra], {**env, **worker_env}


SERVICES = {"ingest": 8001, "classify": 8002, "accountability": 8003}
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: receive SIGTERM if the dev runner dies, so nothing is left orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    port: int
    process: subprocess.Popen[bytes]


class DevStack:
    def __init__(
        self,
        *,
        var_dir: Path,
        broker_port: int,
        ports: dict[str, int] | None = None,
        host: str = "127.0.0.1",
        broker_kind: str = "tansu",
    ) -> None:
        self.var_dir, self.broker_port, self.host, self.broker_kind = var_dir, broker_port, host, broker_kind
        self.ports = {**SERVICES, **(ports or {})}
        self.broker: Broker | None = None
        self.children: list[Child] = []
        self.stopping = False
        self.demo_key = ""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("DATABASE_URL", f"sqlite:///{(self.var_dir / 'journeyline.db').resolve()}")
        if self.broker is not None:
            env.update(self.broker.client_env())
        env.setdefault("JOURNEYLINE_ENV", "development")
        return env

    def start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
            self.broker = make_broker(self.broker_kind, self.var_dir, port=self.broker_port, host=self.host)
            if self.broker_kind == "kafka":
                _say("broker       starting Apache Kafka (the first start resolves it through Maven)")
            self.broker.start()
            what = (
                "Apache Kafka, storage in " + str(self.var_dir / "kafka")
                if self.broker_kind == "kafka"
                else ("embedded Tansu (memory only)")
            )
            _say(f"broker       {what} on {self.broker.bootstrap_servers}")
        else:
            _say(f"broker       {os.environ['KAFKA_BOOTSTRAP_SERVERS']} (from KAFKA_BOOTSTRAP_SERVERS)")
        env = self.env()
        settings = _settings_from(env)
        asyncio.run(ensure_topics(settings.kafka))
        _say(f"database     {_redact(settings.database_url)}")
        self.demo_key = self.make_demo_key()
        for name, port in self.ports.items():
            if port_open(self.host, port):
                raise RuntimeError(f"port {port} for {name} is already in use")
            log = open(self.var_dir / f"{name}.log", "ab")  # noqa: SIM115
            cmd, env_of = service_command(name, self.host, port, env, self.var_dir)
            proc = subprocess.Popen(cmd, env=env_of, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)  # noqa: PLW1509
            self.children.append(Child(name, port, proc))
        for child in self.children:
            _wait_ready(child, self.var_dir)
            log_path = self.var_dir / f"{child.name}.log"
            _say(f"{child.name:<14} http://{self.host}:{child.port}  (docs: /docs, log: {log_path})")
            if child.name == "accountability":
                _say(f"{'journey board':<14} http://{self.host}:{child.port}/board  (sign in with a token)")

    def make_demo_key(self) -> str:
        """Create (or rotate) the `demo` source before ingest starts, so ingest knows the key from its first request."""
        from services.ingest.cli import demo_source_key

        return demo_source_key(_settings_from(self.env()))

    def wait(self) -> int:
        """Block until a child dies or a signal asks to stop; return the exit code."""
        while not self.stopping:
            for child in self.children:
                if child.process.poll() is not None:
                    _say(f"{child.name} exited with code {child.process.returncode}; stopping everything")
                    return 1
            process = getattr(self.broker, "process", None)
            if self.broker is not None and process is not None and process.poll() is not None:
                _say("the broker exited; stopping everything")
                return 1
            time.sleep(0.3)
        return 0

    def stop(self) -> None:
        self.stopping = True
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.process.wait(15)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(5)
        self.children.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


def _settings_from(env: dict[str, str]) -> CommonSettings:
    keys = {
        "DATABASE_URL",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_ENGINE",
        "JOURNEYLINE_TOPIC_PREFIX",
        "KAFKA_PARTITIONS",
        "JOURNEYLINE_ENV",
    }
    return CommonSettings.model_validate({k: v for k, v in env.items() if k in keys})


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _wait_ready(child: Child, var_dir: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{child.port}/readyz"
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited at start; see {var_dir / (child.name + '.log')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} was not ready within {timeout:.0f}s; see {var_dir / (child.name + '.log')}")


def _say(line: str) -> None:
    print(f"journeyline  {line}", flush=True)


def run_dev(
    *, var_dir: Path, broker_port: int = 9092, ports: dict[str, int] | None = None, broker: str = "tansu"
) -> int:
    stack = DevStack(var_dir=var_dir, broker_port=broker_port, ports=ports, broker_kind=broker)

    def _on_signal(signum: int, _frame: object) -> None:
        stack.stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    code = 0
    try:
        stack.start()
        _say("demo source  its API key (shown once, rotated at every start):")
        print(stack.demo_key, flush=True)
        _say("running; Ctrl-C stops everything")
        code = stack.wait()
    except RuntimeError as exc:
        _say(f"error: {exc}")
        code = 1
    finally:
        _say("stopping")
        stack.stop()
        _say("stopped")
    return code
