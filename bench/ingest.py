"""`journeyline bench ingest`: in one run against one broker, with one load generator,
(a) a bare aiokafka producer vs the ingest batch path, (b) single-event requests/s of ingest vs a trivial FastAPI
endpoint that only answers 202 (the machine's HTTP ceiling), and (c) single-event latency at a fixed request rate
(by default half the ceiling). Both servers run as real uvicorn processes with the same number of workers."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop
from sqlmodel import Session

from bench.load import HttpConnection, broker_cpu_seconds, cpu_seconds, measured, percentile
from services.cli.brokers import broker_kind, make_broker
from services.cli.embedded import free_port
from services.ingest.models import Adapter, SourceCreate
from services.ingest.settings import IngestSettings, worker_launch
from services.ingest.sources import add_source, create_tables
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
    parser.add_argument(
        "--rate", type=int, default=0, help="single-event requests/s of the latency run (default: half the ceiling)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each single-event run")
    parser.add_argument("--connections", type=int, default=32, help="connections of the single-event throughput runs")
    # 15 s by default: a fresh broker's JIT takes 12-15 s to compile its single-record produce path
    parser.add_argument("--warmup", type=float, default=15.0, help="uncounted seconds before each closed loop")
    parser.add_argument(
        "--workers", type=int, default=None, help="uvicorn workers of both servers (default INGEST_WORKERS, else cores)"
    )
    parser.add_argument("--profile", type=Path, default=None, help="record a py-spy profile of ingest into this file")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (database, logs, broker data)")
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


async def _batch_path(port: int, key: str, payloads: list[dict[str, Any]], batch: int, concurrency: int) -> float:
    bodies = [orjson.dumps(payloads[i : i + batch]) for i in range(0, len(payloads), batch)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    failures: list[int] = []
    retries: list[int] = []

    async def worker() -> None:
        conn = HttpConnection(port, key)
        try:
            while not queue.empty():
                body = queue.get_nowait()
                status = await conn.post(body, "application/json")
                while status == 429:  # source_busy: a real client retries (counted, and the time counts)
                    retries.append(status)
                    await asyncio.sleep(0.05)
                    status = await conn.post(body, "application/json")
                if status != 202:
                    failures.append(status)
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} batch requests failed, e.g. HTTP {failures[0]}")
    if retries:
        print(f"  ({len(retries)} batch requests were answered 429 and retried)", flush=True)
    return len(payloads) / elapsed


async def _latency(port: int, key: str, payloads: list[dict[str, Any]], rate: int) -> tuple[list[float], int, float]:
    """Open loop: request i is due at start + i/rate; latency counts from that moment (no coordinated omission).
    Returns the latencies, the count of non-202 answers, and the seconds from the first due time to the last answer."""
    bodies = [orjson.dumps(p) for p in payloads]
    idle: list[HttpConnection] = [HttpConnection(port, key) for _ in range(16)]
    latencies: list[float] = []
    errors = 0
    # At most 256 connections: past the server's capacity requests queue here, and their wait still counts.
    slots = asyncio.Semaphore(256)

    async def one(body: bytes, due: float) -> None:
        nonlocal errors
        async with slots:
            conn = idle.pop() if idle else HttpConnection(port, key)
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
    elapsed = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return latencies, errors, elapsed


async def _closed_loop(
    port: int, key: str, payloads: list[dict[str, Any]], seconds: float, connections: int
) -> tuple[int, list[float], dict[int, int]]:
    """`connections` clients each post single events back to back for `seconds`: requests answered, latencies,
    and the count of every non-202 status."""
    bodies = [orjson.dumps(p) for p in payloads]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def client() -> None:
        conn = HttpConnection(port, key)
        try:
            while (now := time.perf_counter()) < stop:
                status = await conn.post(bodies[next(counter) % len(bodies)], "application/json")
                latencies.append(time.perf_counter() - now)
                if status != 202:
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return int(len(latencies) / elapsed), latencies, statuses


def _start_service(
    env: dict[str, str], port: int, log: Path, *, app: str = "services.ingest.main:app", workers: int = 1
) -> subprocess.Popen[bytes]:
    # as ingest runs in production (shared.serve): several workers share the connections evenly
    cmd = [sys.executable, "-m", "shared.serve", app, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--no-access-log", "--loop", "uvloop", "--http", "httptools", "--log-level", "warning"]
    cmd += ["--workers", str(workers)] if workers > 1 else []
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


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # py-spy writes its profile on SIGINT; uvicorn stops its workers
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _single_run(
    label: str, port: int, key: str, proc: subprocess.Popen[bytes], args: argparse.Namespace, run: str,
    profile: Path | None = None,
) -> int:  # fmt: skip
    # not counted: a fresh broker's CPU per single event falls from ~150 to ~20 µs over the first 12-15 s of such
    # load (its JIT at work); measured from cold, the run would show the broker's warm-up, not ingest's speed
    uvloop.run(_closed_loop(port, key, _payloads(500, f"warm-{run}"), args.warmup, args.connections))
    spy = None
    if profile is not None:  # py-spy samples the server and its workers during the measured run only
        cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(proc.pid), "--subprocesses"]
        cmd += ["--nonblocking", "--rate", "250", "--duration", f"{args.seconds:.0f}", "-o", str(profile)]
        cmd += ["--format", "raw"] if profile.suffix == ".txt" else []
        spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = cpu_seconds(proc.pid)
    rps, latencies, statuses = measured(_closed_loop(port, key, _payloads(20_000, run), args.seconds, args.connections))
    cpu = cpu_seconds(proc.pid) - cpu
    if spy is not None:
        spy.wait(60)
    per_request = cpu / max(1, len(latencies)) * 1000
    print(
        f"{label:<24} {rps:>10,.0f} req/s   p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
        f"server CPU {per_request:.3f} ms/request, non-202 {statuses or 0}  ({args.connections} connections)",
        flush=True,
    )
    return rps


def _run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="jl-bench-ingest-"))
    kind = args.broker or broker_kind()
    broker = None if args.bootstrap else make_broker(kind, work).start()
    bootstrap = args.bootstrap or (broker.bootstrap_servers if broker else "")
    engine_name = broker.engine if broker else CommonSettings().kafka_engine
    workers = args.workers or IngestSettings().launch_workers
    print(
        f"broker: {'Apache Kafka' if engine_name == 'kafka' else 'embedded Tansu'} on {bootstrap}; "
        f"{workers} uvicorn worker(s) per server, {os.cpu_count()} cores",
        flush=True,
    )
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    kafka = KafkaSettings(engine=engine_name, bootstrap_servers=bootstrap, topics=Topics(prefix=prefix))
    db_url = f"sqlite:///{work / 'ingest.db'}"
    engine = make_engine(db_url)
    create_tables(engine)
    with Session(engine) as session:
        bench = SourceCreate(name="bench", channel=Channel.chat, adapter=Adapter.generic, rate_limit=0)
        _, key = add_source(session=session, source=bench)
    engine.dispose()
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "KAFKA_ENGINE": engine_name}
    env |= {"JOURNEYLINE_TOPIC_PREFIX": prefix, "DATABASE_URL": db_url, "INGEST_WORKERS": str(workers)}
    env["JOURNEYLINE_LOG_LEVEL"] = "WARNING"
    proc = None
    finished = False  # a failed run keeps its directory: the error names the log to read there
    try:
        uvloop.run(ensure_topics(kafka))
        payloads = _payloads(args.events, "bare")
        bare = measured(_bare(kafka, _records(payloads, "bench")))
        print(f"bare aiokafka producer   {bare:>10,.0f} events/s  ({args.events:,} events, acks=all)", flush=True)

        port = free_port()
        proc = _start_service(env, port, work / "trivial.log", app="bench.trivial:app", workers=workers)
        ceiling = _single_run("trivial FastAPI 202", port, key, proc, args, "trivial")
        _stop(proc)

        port = free_port()
        # as `journeyline dev` starts it: with several workers, their metrics kept where every scrape adds them up
        worker_env = worker_launch({"INGEST_WORKERS": str(workers)}, work)[1]
        proc = _start_service(env | worker_env, port, work / "ingest.log", workers=workers)
        uvloop.run(_batch_path(port, key, _payloads(2_000, "warm"), args.batch, args.concurrency))
        path = measured(_batch_path(port, key, _payloads(args.events, "http"), args.batch, args.concurrency))
        print(
            f"ingest batch path        {path:>10,.0f} events/s  ({args.batch}-event JSON arrays, "
            f"{args.concurrency} connections)",
            flush=True,
        )
        single = _single_run("ingest single events", port, key, proc, args, "single-max", args.profile)

        rate = args.rate or max(1, ceiling // 2)
        uvloop.run(_latency(port, key, _payloads(rate, "warm-single"), rate))  # one second, not counted
        n = int(rate * args.seconds)
        payloads = _payloads(n, "single")  # built before the clock starts (about a second for 100,000)
        # measured: the load generator's own full collections would show up as server latency
        cpu, broker_cpu = cpu_seconds(proc.pid), broker_cpu_seconds(broker)
        latencies, errors, elapsed = measured(_latency(port, key, payloads, rate))
        achieved, cpu = n / elapsed, cpu_seconds(proc.pid) - cpu
        broker_cpu = broker_cpu_seconds(broker) - broker_cpu
        print(
            f"single events at {rate} req/s (achieved {achieved:,.0f}) for {args.seconds:g}s: "
            f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, max {percentile(latencies, 100) * 1000:.1f} ms, "
            f"server CPU {cpu / max(1, n) * 1000:.3f} ms/request (broker {broker_cpu / max(1, n) * 1000:.3f}), "
            f"non-202 {errors}  (target p99 < 50 ms)",
            flush=True,
        )
        print(f"ratio batch/bare         {path / bare:>10.2f}   (target >= 0.80)", flush=True)
        print(f"ratio single/trivial     {single / ceiling:>10.2f}   (target >= 0.50)", flush=True)
        finished = True
    finally:
        _stop(proc)
        if broker is not None:
            broker.stop()
        if finished and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.profile is not None:
        print(f"profile: {args.profile}", flush=True)
    return 0
