"""Fault-test support: the three services as processes, a steady load, and reading what accountability stored."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import text

from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.models import stable_event_id
from shared.settings import KafkaSettings, Topics
from tests.support import ENGINE, ROOT, ServiceProcess

READ_TOKEN = os.environ.get("ACCOUNTABILITY_READ_TOKEN", "change-me-read")
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
SERVICES = ("ingest", "classify", "accountability")
SOURCE = "faults"  # the source every stack's load posts as
TEXTS = (
    "Charged twice for my bill this month, still waiting for the refund",
    "Parcel never delivered and tracking hasn't moved in a week",
    "App crashes every time I open it since the update",
    "On hold for an hour then the call dropped, awful customer service",
    "I want to cancel my contract, switching to another provider",
    "Checkout failed three times, could not place my order",
    "Your website doesn't explain the difference between the plans",
)


def stack_env(bootstrap: str, prefix: str, database_url: str, **extra: str) -> dict[str, str]:
    """Environment for every service of one test's stack: its own topics, groups and database."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "JOURNEYLINE_TOPIC_PREFIX": prefix,
        "DATABASE_URL": database_url,
        "JOURNEYLINE_ENV": "development",
        "JOURNEYLINE_LOG_LEVEL": "WARNING",
        **extra,
    }


def own_stack(bootstrap: str, prefix: str, tmp_path: Path, model_dir: Path, **extra: str) -> Stack:
    """A (not yet started) stack of one test on `bootstrap`: its topics created, SQLite, the trained model."""
    kafka = KafkaSettings(engine=ENGINE, bootstrap_servers=bootstrap, topics=Topics(prefix=prefix))
    asyncio.run(ensure_topics(kafka))
    env = stack_env(
        bootstrap, prefix, f"sqlite:///{tmp_path / 'journeyline.db'}", CLASSIFY_MODEL_DIR=str(model_dir), **extra
    )
    return Stack(env, tmp_path, kafka=kafka)


def add_source(env: dict[str, str], name: str, channel: str = "chat") -> str:
    """`journeyline sources add NAME --channel CH`; the key is alone on the last line."""
    out = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "sources", "add", name, "--channel", channel,
         "--rate-limit", "0"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def wait_for_key(ingest_url: str, key: str, timeout: float = 20.0) -> None:
    """The ingest key cache reloads every few seconds: wait until a new key is known (an empty body is a 4xx)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = httpx.post(ingest_url + "/v1/events", headers={"X-API-Key": key}, content=b"", timeout=5)
        if reply.status_code != 401:
            return
        time.sleep(0.2)
    raise AssertionError("ingest never learnt the new source key")


class Stack:
    """The three services of one test, started in order; each can be killed and started again."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        names: tuple[str, ...] = SERVICES,
        overrides: dict[str, dict[str, str]] | None = None,
        kafka: KafkaSettings | None = None,
    ) -> None:
        self.env, self.log_dir, self.overrides = env, log_dir, overrides or {}
        self.kafka = kafka or KafkaSettings(
            engine=ENGINE,
            bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            topics=Topics(prefix=env["JOURNEYLINE_TOPIC_PREFIX"]),
        )
        self.services = {name: self.process(name) for name in names}
        self.key = ""
        self.expected: set[str] = set()  # every id a test of this stack expects in the store

    @property
    def database_url(self) -> str:
        """Accountability's database (the one whose rows are checked)."""
        return {**self.env, **self.overrides.get("accountability", {})}["DATABASE_URL"]

    def process(self, name: str) -> ServiceProcess:
        """A (not yet started) process of service `name` with this stack's environment."""
        return ServiceProcess(name, {**self.env, **self.overrides.get(name, {})}, self.log_dir)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def start(self) -> Stack:
        """Start every service at once (imports dominate start-up; two cores overlap them) and wait for each."""
        with ThreadPoolExecutor(len(self.services)) as pool:
            for future in [pool.submit(s.start, timeout=120) for s in self.services.values()]:
                future.result()
        if "ingest" in self.services:
            self.key = add_source(self.services["ingest"].env, SOURCE)
            wait_for_key(self.services["ingest"].url, self.key)
        return self

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    def ensure_ready(self, timeout: float = 60.0) -> None:
        """Restart whatever a previous test left dead, then wait until every service is ready."""
        for service in self.services.values():
            if service.process is None or service.process.poll() is not None:
                service.process = None
                service.start(timeout=120)
        for service in self.services.values():
            service.wait("/readyz", timeout)


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack.start()
    finally:
        stack.stop()


class Load(threading.Thread):
    """Posts small batches at a steady rate; remembers every id answered 202 and every other status seen."""

    def __init__(self, ingest_url: str, key: str, *, rate: float = 40.0, batch: int = 4, tag: str = "") -> None:
        tag = tag or uuid.uuid4().hex[:8]  # external ids unique per load, so tests sharing a source never collide
        super().__init__(daemon=True, name=f"load-{tag}")
        self.url, self.key, self.rate, self.batch, self.tag = ingest_url, key, rate, batch, tag
        self.accepted: list[str] = []
        self.unanswered: list[str] = []  # ids of events whose request got no answer: stored or not, both are fine
        self.statuses: dict[int | str, int] = {}
        self.sent = 0
        self._halt = threading.Event()

    def run(self) -> None:
        interval = self.batch / self.rate
        next_at = time.monotonic()
        with httpx.Client(headers={"X-API-Key": self.key}, timeout=10) as client:
            while not self._halt.is_set():
                self._post(client)
                next_at += interval
                self._halt.wait(max(0.0, next_at - time.monotonic()))

    def _post(self, client: httpx.Client) -> None:
        events = [
            {"external_id": f"{self.tag}-{self.sent + i}", "customer_id": f"CUS-{(self.sent + i) % 50}",
             "text": TEXTS[(self.sent + i) % len(TEXTS)]}
            for i in range(self.batch)
        ]  # fmt: skip
        self.sent += self.batch
        try:
            reply = client.post(self.url + "/v1/events", json=events)
        except httpx.HTTPError as exc:
            self._seen(type(exc).__name__)
            self.unanswered += [stable_event_id(SOURCE, event["external_id"]) for event in events]
            return
        self._seen(reply.status_code)
        if reply.status_code == 202:
            self.accepted += [item["id"] for item in reply.json()["results"]]

    def _seen(self, status: int | str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def stop(self) -> None:
        self._halt.set()
        self.join(15)


def stored_rows(database_url: str) -> list[str]:
    """Every feedback id accountability has stored (duplicates would show as repeats)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(text("SELECT id FROM acct_feedback"))]
    finally:
        engine.dispose()


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def assert_stored_exactly_once(
    database_url: str, accepted: list[str], *, timeout: float = 90.0, expected: set[str] | None = None
) -> list[str]:
    """Wait until every accepted id is stored; no id is stored twice; with `expected` (every id any test of
    this database was told was accepted), nothing else is stored."""
    wanted = set(accepted)
    rows: list[str] = []

    def done() -> bool:
        nonlocal rows
        rows = stored_rows(database_url)
        return wanted <= set(rows)

    try:
        wait_until(done, timeout=timeout, what=f"{len(wanted)} accepted events to be stored")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {len(wanted - set(rows))} missing of {len(wanted)}") from None
    assert len(rows) == len(set(rows)), "an event was stored twice"
    if expected is not None:
        unexpected = set(rows) - expected - wanted
        assert not unexpected, f"{len(unexpected)} stored events were never accepted"
    return rows
