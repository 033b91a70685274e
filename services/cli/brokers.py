"""Which broker a local stack, a test session or a benchmark runs on: the embedded Tansu or Apache Kafka."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from services.cli.apache_kafka import ApacheKafka
from services.cli.embedded import EmbeddedBroker, free_port

BROKERS = ("tansu", "kafka")


class Broker(Protocol):
    engine: str

    @property
    def bootstrap_servers(self) -> str: ...

    def client_env(self) -> dict[str, str]: ...

    def start(self, timeout: float = ...) -> Broker: ...

    def stop(self, timeout: float = ...) -> None: ...

    def kill(self) -> None: ...


def broker_kind(default: str = "tansu") -> str:
    """`JOURNEYLINE_BROKER` (`tansu` or `kafka`), else `default`."""
    kind = os.environ.get("JOURNEYLINE_BROKER", default).strip().lower() or default
    if kind not in BROKERS:
        raise ValueError(f"JOURNEYLINE_BROKER must be one of {', '.join(BROKERS)}, not {kind!r}")
    return kind


def make_broker(kind: str, work_dir: Path, *, port: int | None = None, host: str = "127.0.0.1") -> Broker:
    """A broker of `kind` on loopback; its log (and, for Kafka, its storage) under `work_dir`. Not started."""
    port = port or free_port(host)
    if kind == "kafka":
        return ApacheKafka(work_dir / "kafka", host=host, port=port)
    work_dir.mkdir(parents=True, exist_ok=True)
    return EmbeddedBroker(host, port, log_path=work_dir / "broker.log")
