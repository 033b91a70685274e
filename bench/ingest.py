"""`journeyline bench ingest`: a bare aiokafka producer vs the ingest batch path in one run, plus
single-event latency at a fixed request rate. The service runs as a real uvicorn process."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlmodel import Session

from services.cli.brokers import broker_kind, make_broker
from services.cli.embedded import free_port
from services.ingest.models import Adapter, SourceCreate
from services.ingest.service import add_source, create_tables
from shared.cloudevents import CloudEvent, encode
from shared.db import make_engine
from shared.kafka import ensure_topics, make_producer
from shared.models import Channel, EventType, Feedback, stable_event_id, utcnow
from shared.settings import CommonSettings, KafkaSettings, Topics

_TEXTS = (
    "I was charged twice for my March invoice and the refund still has not arrived after ten days.",
    "The technician never showed up for the installation appointment and nobody called to explain.",
    "App keeps logging me out every hour since the last update, very frustrating on the train.",
    "Waited forty minutes on hold before the call dropped, then had to explain everything again.",
    "Great onboarding call, the agent walked me through the router set-up step by step. Thanks!",
)


def register_bench(sub: Any) -> None:
    parser = sub.add_parser("ingest", help="bare producer vs the ingest batch path; single-event p50/p99")
    parser.add_argument("--events", type=int, default=100_000, help="events per throughput run")
    parser.add_argument("--batch", type=int, default=500, help="events per HTTP request on the batch path")
    parser.add_argument("--concurrency", type=int, default=4, help="connections posting batches at once")
    parser.add_argument("--rate", type=int, default=500, help="single-event requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the single-event run")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), help="use this broker")
    parser.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default=None,
        help="without --bootstrap: start this broker (default JOURNEYLINE_BROKER, else tansu)",
    )
    parser.set_defaults(func=_run)


def _payloads(n: int, run: str) -> list[dict[str, Any]]:
    rng = random.Random(7)  # noqa: S311 - bench data, not security
    return [
        {
            "external_id": f"{run}-{i}",
            "channel": "chat",
            "occurred_at": "2026-01-15T10:00:00Z",
            "customer_id": f"CUS-{rng.randrange(50_000):05d}",
            "text": rng.choice(_TEXTS) + f" (ticket {i})",
            "scores": {"csat": rng.randint(1, 5)},
            "metadata": {"product": "broadband", "region": rng.choice(["uk", "ie", "de"])},
        }
        for i in range(n)
    ]


def _records(payloads: list[dict[str, Any]], source: str) -> list[tuple[bytes, Any, bytes]]:
    """The same events as ingest would produce them, encoded once, for the bare producer."""
    now, out = utcnow(), []
    for p in payloads:
        fb = Feedback(
            id=stable_event_id(source, p["external_id"]), source=source, channel=p["channel"],
            occurred_at=p["occurred_at"], received_at=now, customer={"id": p["customer_id"]}, text=p["text"],
            scores=p["scores"], metadata=p["metadata"],
        )  # fmt: skip
        event = CloudEvent(
            id=fb.id, source=f"/sources/{source}", type=EventType.feedback_received.value,
            data=fb.model_dump(mode="json"), time=fb.occurred_at, subject=p["customer_id"],
        )  # fmt: skip
        headers, value = encode(event)
        out.append((p["customer_id"].encode(), headers, value))
    return out


async def _bare(kafka: KafkaSettings, records: list[tuple[bytes, Any, bytes]]) -> float:
    producer = make_producer(kafka, client_id="bench-bare")
    await producer.start()
    try:
        topic = kafka.topics.received
        warm = [await producer.send(topic, value=v, key=k, headers=h) for k, h, v in records[:1000]]
        await asyncio.gather(*warm)
        started = time.perf_counter()
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, h, v in records]
        await asyncio.gather(*futures)
        return len(records) / (time.perf_counter() - started)
    finally:
        await producer.stop()


class _Conn:
    """A minimal keep-alive HTTP/1.1 client: the load generator must cost less CPU than the server."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, content_type: str) -> int:
        reused = self.writer is not None
        try:
            return await self._post(body, content_type)
        except (asyncio.IncompleteReadError, ConnectionError):
            if not reused:
                raise
            self.close()  # the server closed an idle keep-alive connection: open a new one, once
            return await self._post(body, content_type)

    async def _post(self, body: bytes, content_type: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None and self.writer is not None
        head = (
            f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"X-API-Key: {self.key}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _batch_path(port: int, key: str, payloads: list[dict[str, Any]], batch: int, concurrency: int) -> float:
    bodies = [orjson.dumps(payloads[i : i + batch]) for i in range(0, len(payloads), batch)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    failures: list[int] = []

    async def worker() -> None:
        conn = _Conn(port, key)
        try:
            while not queue.empty():
                status = await conn.post(queue.get_nowait(), "application/json")
                if status != 202:
                    failures.append(status)
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} batch requests failed, e.g. HTTP {failures[0]}")
    return len(payloads) / elapsed


async def _latency(port: int, key: str, payloads: list[dict[str, Any]], rate: int) -> tuple[list[float], int]:
    """Open loop: request i is due at start + i/rate; latency counts from that moment (no coordinated omission)."""
    bodies = [orjson.dumps(p) for p in payloads]
    idle: list[_Conn] = [_Conn(port, key) for _ in range(16)]
    latencies: list[float] = []
    errors = 0

    async def one(body: bytes, due: float) -> None:
        nonlocal errors
        conn = idle.pop() if idle else _Conn(port, key)
        try:
            status = await conn.post(body, "application/json")
            if status != 202:
                errors += 1
        finally:
            idle.append(conn)
        latencies.append(time.perf_counter() - due)

    tasks = []
    start = time.perf_counter() + 0.1
    for i, body in enumerate(bodies):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body, due)))
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return latencies, errors


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _start_service(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "uvicorn", "services.ingest.main:app", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-access-log", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ingest exited at start; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"ingest not ready within 60s; see {log}")


def _run(args: argparse.Namespace) -> int:
    import uvloop

    work = Path(tempfile.mkdtemp(prefix="jl-bench-ingest-"))
    kind = args.broker or broker_kind()
    broker = None if args.bootstrap else make_broker(kind, work).start()
    bootstrap = args.bootstrap or (broker.bootstrap_servers if broker else "")
    engine_name = broker.engine if broker else CommonSettings().kafka_engine
    print(f"broker: {'Apache Kafka' if engine_name == 'kafka' else 'embedded Tansu'} on {bootstrap}", flush=True)
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings(engine=engine_name, bootstrap_servers=bootstrap, topics=Topics(prefix=prefix))
    db_url = f"sqlite:///{work / 'ingest.db'}"
    engine = make_engine(db_url)
    create_tables(engine)
    with Session(engine) as session:
        bench = SourceCreate(name="bench", channel=Channel.chat, adapter=Adapter.generic, rate_limit=0)
        _, key = add_source(session=session, source=bench)
    engine.dispose()
    port = free_port()
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_ENGINE": engine_name}
    env |= {"JOURNEYLINE_TOPIC_PREFIX": prefix, "DATABASE_URL": db_url}
    env["JOURNEYLINE_LOG_LEVEL"] = "WARNING"
    proc = None
    try:
        uvloop.run(ensure_topics(kafka))
        payloads = _payloads(args.events, "bare")
        bare = uvloop.run(_bare(kafka, _records(payloads, "bench")))
        print(f"bare aiokafka producer   {bare:>10,.0f} events/s  ({args.events:,} events, acks=all)", flush=True)
        proc = _start_service(env, port, work / "ingest.log")
        uvloop.run(_batch_path(port, key, _payloads(2_000, "warm"), args.batch, args.concurrency))
        path = uvloop.run(_batch_path(port, key, _payloads(args.events, "http"), args.batch, args.concurrency))
        print(
            f"ingest batch path        {path:>10,.0f} events/s  ({args.batch}-event JSON arrays, "
            f"{args.concurrency} connections)",
            flush=True,
        )
        print(f"ratio batch/bare         {path / bare:>10.2f}   (target >= 0.50)", flush=True)
        uvloop.run(_latency(port, key, _payloads(args.rate, "warm-single"), args.rate))  # one second, not counted
        n = int(args.rate * args.seconds)
        # The load generator must not stall itself: its own garbage collector's full passes would show up as
        # server latency. Freeze what exists and pause collection for the measured run only.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            latencies, errors = uvloop.run(_latency(port, key, _payloads(n, "single"), args.rate))
        finally:
            gc.enable()
        print(
            f"single events at {args.rate} req/s for {args.seconds:g}s: p50 {_pct(latencies, 0.50):.1f} ms, "
            f"p99 {_pct(latencies, 0.99):.1f} ms, max {_pct(latencies, 1.0):.1f} ms, non-202 {errors}  "
            "(target p99 < 50 ms)",
            flush=True,
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(15)
        if broker is not None:
            broker.stop()
    return 0
