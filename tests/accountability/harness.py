"""Run the accountability app in-process against the real broker, with a clock the test moves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from sqlalchemy.engine import Engine

from services.accountability.main import create_app
from services.accountability.runtime import Runtime
from services.accountability.settings import AccountabilitySettings
from shared.cloudevents import decode
from shared.kafka import make_producer
from shared.models import ClassifiedFeedback
from shared.settings import KafkaSettings
from tests.accountability.factories import MovableClock, record_parts

READ = {"Authorization": "Bearer r-token"}
OPERATOR = {"Authorization": "Bearer o-token"}
ADMIN = {"Authorization": "Bearer a-token"}


def settings_for(kafka: KafkaSettings, database_url: str, **overrides: Any) -> AccountabilitySettings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka.bootstrap_servers,
        "topic_prefix": kafka.topics.prefix,
        "database_url": database_url,
        "read_token": "r-token",
        "operator_token": "o-token",
        "admin_token": "a-token",
        "evaluate_interval_s": 0.2,
        "gauges_interval_s": 0.5,
        "outbox_poll_s": 0.1,
        "outbox_backoff_base_s": 0.2,
        "outbox_backoff_max_s": 0.8,
        "escalate_after_s": 86400.0,
        "auto_resolve_after_s": 1800.0,
        "receiver_allow_hosts": "127.0.0.1",  # the tests' webhook receivers listen on loopback
        # The tests' clock starts on a Monday noon, when the weekly digest is due: only the digest tests want it.
        "digest_enabled": False,
        **overrides,
    }
    return AccountabilitySettings(**values)


@asynccontextmanager
async def running(
    settings: AccountabilitySettings, clock: MovableClock, engine: Engine | None = None
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    app = create_app(settings, clock=clock, engine=engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://accountability") as client:
            yield app.state.runtime, client


async def produce(
    kafka: KafkaSettings, items: list[ClassifiedFeedback], *, raw: list[tuple[list[tuple[str, bytes]], bytes]] = ()
) -> None:  # type: ignore[assignment]
    producer = make_producer(kafka, client_id="test-classify")
    await producer.start()
    try:
        sent = []
        for item in items:
            headers, value, key = record_parts(item)
            sent.append(await producer.send(kafka.topics.classified, value=value, key=key, headers=headers))
        await asyncio.gather(*sent)  # every record acknowledged
        for headers, value in raw:
            await producer.send_and_wait(kafka.topics.classified, value=value, key=b"poison", headers=headers)
    finally:
        await producer.stop()


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds (a bound, not a speed target)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


async def read_topic(
    kafka: KafkaSettings,
    topic: str,
    *,
    want: int,
    timeout: float = 20.0,
    until: Callable[[list[Any]], bool] | None = None,
) -> list[Any]:
    """Decode CloudEvents from `topic` (from the beginning) until `want` arrived (and `until` holds) or time is up."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    events = []
    try:
        deadline = time.monotonic() + timeout
        while (len(events) < want or (until is not None and not until(events))) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                events += [decode(r.headers, r.value) for r in records]
    finally:
        await consumer.stop()
    return events
