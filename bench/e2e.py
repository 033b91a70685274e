"""`journeyline bench e2e`: end-to-end latency from the ingest request to the row committed in accountability's
store, at a fixed event rate, with the memory (VmRSS) of every process at the start and the end of the run.

The whole stack runs as real processes: an embedded broker of its own, a fresh SQLite file, the three services.
Events are posted in small batches on a fixed schedule (open loop); each accepted id keeps the time its request
was due, so a slow answer counts against the latency instead of delaying the load.
A reader polls the SQLite file every few milliseconds for new rows (by rowid), so "stored" means committed
and visible to another connection, not just handed to the database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlmodel import Session

from bench.e2e_watch import LagSampler, Results, Service, StoreWatcher, consumer_lag
from bench.load import (
    SLICE_S,
    HttpConnection,
    by_slice,
    cpu_seconds,
    percentile,
    process_family,
    rss_mib,
    without_gc_pauses,
)
from services.cli.brokers import broker_kind, make_broker
from services.cli.dev import service_command
from services.cli.embedded import free_port
from services.ingest.models import Adapter, SourceCreate
from services.ingest.sources import add_source, create_tables
from shared.db import make_engine
from shared.kafka import ensure_topics
from shared.models import Channel, stable_event_id
from shared.settings import CommonSettings, KafkaSettings, Topics

SERVICES = ("ingest", "classify", "accountability")
SOURCE = "bench-e2e"
TEXTS = (
    "I was charged twice for my March invoice and the refund still has not arrived after ten days.",
    "The technician never showed up for the installation appointment and nobody called to explain.",
    "App keeps logging me out every hour since the last update, very frustrating on the train.",
    "Waited forty minutes on hold before the call dropped, then had to explain everything again.",
    "I want to cancel my contract, your competitor is offering the same for half the price.",
    "Checkout failed three times with a payment error, so I could not place my order.",
    "Great onboarding call, the agent walked me through the router set-up step by step. Thanks!",
)

BENCH = "benchmark (load generator, reader)"


def register_bench(sub: Any) -> None:
    parser = sub.add_parser("e2e", help="ingest -> stored latency (p50/p99) at a fixed rate; memory of each service")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second (default 1000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--batch", type=int, default=10, help="events per request (default 10; 1 = single events)")
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="seconds of load at the same rate before the measured run, not counted (default 0): a broker just "
        "started compiles its hot code during its first half-minute of load",
    )
    parser.add_argument("--drain", type=float, default=60.0, help="longest wait for the last events to be stored")
    parser.add_argument("--rss-bound-mb", type=float, default=100.0, help="allowed VmRSS growth per service (MiB)")
    parser.add_argument("--keep", action="store_true", help="keep the run directory (database, logs)")
    parser.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default=None,
        help="the broker to start: tansu (embedded) or kafka (Apache Kafka); default JOURNEYLINE_BROKER, else tansu",
    )
    parser.set_defaults(func=_run)


def _start(name: str, env: dict[str, str], run_dir: Path) -> Service:
    port = free_port()
    log = open(run_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
    cmd, env = service_command(name, "127.0.0.1", port, env, run_dir)  # as `journeyline dev` starts them
    return Service(name, port, subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))


def _wait_ready(service: Service, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}; see its log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(service.url + "/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} was not ready within {timeout:.0f}s")


def _add_source(env: dict[str, str]) -> str:
    engine = make_engine(env["DATABASE_URL"])
    try:
        create_tables(engine)
        with Session(engine) as session:
            source = SourceCreate(name=SOURCE, channel=Channel.chat, adapter=Adapter.generic, rate_limit=0)
            _, key = add_source(session=session, source=source)
    finally:
        engine.dispose()
    return key


async def _load(port: int, key: str, results: Results, *, rate: float, duration: float, batch: int) -> float:
    """Open loop: request k is due at start + k * batch / rate, and its events' latency counts from that moment
    (a slow answer does not delay the next request, so queueing is measured, not hidden). Returns events/s sent."""
    run = uuid.uuid4().hex[:8]
    interval = batch / rate
    idle = [HttpConnection(port, key) for _ in range(16)]
    pending: set[asyncio.Task[None]] = set()
    # At most 512 connections: past the service's capacity requests queue here (their wait still counts, from
    # the moment they were due) instead of opening connections until the process runs out of file descriptors.
    slots = asyncio.Semaphore(512)

    async def post(first: int, due_wall: float) -> None:
        events = [
            {"external_id": f"{run}-{n}", "customer_id": f"CUS-{n % 5000:04d}", "text": TEXTS[n % len(TEXTS)]}
            for n in range(first, first + batch)
        ]
        async with slots:
            conn = idle.pop() if idle else HttpConnection(port, key)
            started = time.perf_counter()
            try:
                status = await conn.post(orjson.dumps(events[0] if batch == 1 else events))
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn.close()
                results.statuses[type(exc).__name__] = results.statuses.get(type(exc).__name__, 0) + 1
                return
            finally:
                idle.append(conn)
        results.post_seconds.append(time.perf_counter() - started)
        results.statuses[str(status)] = results.statuses.get(str(status), 0) + 1
        if status == 202:  # ids are derived from (source, external_id): no need to parse the answer
            for event in events:
                results.sent_at[stable_event_id(SOURCE, event["external_id"])] = due_wall

    started, wall = time.perf_counter(), time.time()
    tick = 0
    while (elapsed := time.perf_counter() - started) < duration:
        due = tick * interval
        if due > elapsed:
            await asyncio.sleep(due - elapsed)
        task = asyncio.create_task(post(results.sent, wall + due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        results.sent += batch
        tick += 1
    took = time.perf_counter() - started
    if pending:
        _, late = await asyncio.wait(pending, timeout=60)
        if late:
            results.statuses["unanswered"] = len(late)
            for task in late:
                task.cancel()
    for conn in idle:
        conn.close()
    return results.sent / took


def _machine() -> str:
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.1f} (1 min) {five:.1f} (5 min)"


def _ms(values: list[float]) -> str:
    return " ".join(f"{name}={percentile(values, q) * 1000:.0f}ms" for name, q in (("p50", 50), ("p90", 90),
                    ("p99", 99), ("max", 100)))  # fmt: skip


@without_gc_pauses()  # the load generator and the reader run here: a collector's pause would count as latency
def _run(args: argparse.Namespace) -> int:
    run_dir = Path(tempfile.mkdtemp(prefix="journeyline-e2e-"))
    broker = make_broker(args.broker or broker_kind(), run_dir)
    services: list[Service] = []
    try:
        broker.start()
        print(f"e2e broker: {'Apache Kafka (disk)' if broker.engine == 'kafka' else 'embedded Tansu (memory)'}")
        prefix = f"e2e{uuid.uuid4().hex[:6]}."
        partitions = CommonSettings().kafka_partitions  # KAFKA_PARTITIONS, as the services read it
        kafka = KafkaSettings(
            engine=broker.engine,
            bootstrap_servers=broker.bootstrap_servers,
            topics=Topics(prefix=prefix),
            partitions=partitions,
        )
        asyncio.run(ensure_topics(kafka))
        db = run_dir / "journeyline.db"
        env = {
            **os.environ,
            **broker.client_env(),
            "JOURNEYLINE_TOPIC_PREFIX": prefix,
            "DATABASE_URL": f"sqlite:///{db}",
            "JOURNEYLINE_ENV": "development",
            "JOURNEYLINE_LOG_LEVEL": os.environ.get("JOURNEYLINE_LOG_LEVEL", "WARNING"),
        }
        key = _add_source(env)
        services = [_start(name, env, run_dir) for name in SERVICES]
        for service in services:
            _wait_ready(service)
        process = getattr(broker, "process", None)
        assert process is not None
        pids = {"broker": process.pid, **{s.name: s.process.pid for s in services}}
        rss_idle = {name: rss_mib(pid) for name, pid in pids.items()}
        if args.warmup > 0:
            warm = Results()
            asyncio.run(_load(services[0].port, key, warm, rate=args.rate, duration=args.warmup, batch=args.batch))
            print(f"e2e warm-up: {warm.sent} events in {args.warmup:.0f}s at the same rate, not counted")
        rss_start = {name: rss_mib(pid) for name, pid in pids.items()}
        throughout = {name: set(process_family(pid)) for name, pid in pids.items()}
        pids[BENCH] = os.getpid()  # the services are its children: its own CPU is counted without theirs
        cpu_start = {name: cpu_seconds(pid, children=name != BENCH) for name, pid in pids.items()}
        load_started = time.monotonic()
        print(
            f"e2e: {args.rate:.0f} events/s for {args.duration:.0f}s in batches of {args.batch}, "
            f"{partitions} partitions; {_machine()}"
        )
        results = Results()
        watcher = StoreWatcher(db, results)
        watcher.start()
        lags = LagSampler(services[1:], watched=services)
        lags.start()
        achieved = asyncio.run(
            _load(services[0].port, key, results, rate=args.rate, duration=args.duration, batch=args.batch)
        )
        lags.halt.set()
        lags.join(5)
        print(f"e2e largest consumer lag by {SLICE_S:.0f}s of load (which hop falls behind): {lags.summary()}")
        print(f"e2e memory (VmRSS) by {SLICE_S:.0f}s of load: {lags.rss_summary()}")
        cpu = {name: cpu_seconds(pid, children=name != BENCH) - cpu_start[name] for name, pid in pids.items()}
        busy = ", ".join(f"{name} {seconds / (time.monotonic() - load_started):.0%}" for name, seconds in cpu.items())
        print(f"e2e CPU during the load (share of one core): {busy}")
        lag = {s.name: consumer_lag(s) for s in services[1:]}
        print(f"e2e consumer lag when the load stopped (records not yet processed): {lag}")
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline and not set(results.sent_at) <= set(results.seen_at):
            time.sleep(0.2)
        watcher.halt.set()
        watcher.join(5)
        rss_end = {name: rss_mib(pids[name], only=members) for name, members in throughout.items()}
        rss_new = {name: rss_mib(pids[name]) - rss_end[name] for name in throughout}
        print(f"e2e: after the run {_machine()}")
        return _report(args, results, achieved, rss_idle, rss_start, rss_end, rss_new)
    finally:
        for service in reversed(services):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in services:
            try:
                service.process.wait(20)
            except subprocess.TimeoutExpired:
                service.process.kill()
        broker.stop()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def _report(
    args: argparse.Namespace,
    results: Results,
    achieved: float,
    idle: dict[str, float],
    start: dict[str, float],
    end: dict[str, float],
    new: dict[str, float],
) -> int:
    """`end`: the memory of the processes that ran from the load's start (a service and its workers); `new`: of
    those a service started since, still running (accountability's theme job: a new process each run, gone when
    it ends), reported apart."""
    accepted = results.sent_at
    stored = [i for i in accepted if i in results.seen_at]
    visible = [results.seen_at[i] - accepted[i] for i in stored]
    own = [results.stored_at[i] - results.received_at[i] for i in stored]
    missing = len(accepted) - len(stored)
    print(f"e2e requests by answer: {results.statuses} (statuses count requests; sent/accepted/stored count events)")
    print(f"e2e sent={results.sent} accepted={len(accepted)} stored={len(stored)} missing={missing} "
          f"achieved={achieved:.0f} events/s")  # fmt: skip
    print(f"e2e ingest->stored (row visible to a reader): {_ms(visible)}")
    print(f"e2e of which broker+classify+broker+accountability (row's received_at -> stored_at): {_ms(own)}")
    print(f"e2e POST /v1/events ({args.batch} events per request): {_ms(results.post_seconds)}")
    samples = [(accepted[i], results.seen_at[i] - accepted[i]) for i in stored]
    first = min((sent for sent, _ in samples), default=0.0)
    print(f"e2e ingest->stored p50/p99 by {SLICE_S:.0f}s of load: {by_slice(samples, first)}")
    p99 = percentile(visible, 99)
    verdict = "met" if p99 < 1.0 and not missing else "NOT met"
    print(f"e2e target p99 < 1000ms (at 1000 events/s; docs/performance.md): {verdict} at {achieved:.0f} events/s")
    over = []
    for name in start:
        growth = end[name] - start[name]
        bounded = name == "broker" or growth <= args.rss_bound_mb
        if not bounded:
            over.append(name)
        note = (
            " (the broker: Tansu keeps records in memory; Kafka's JVM heap and page cache)" if name == "broker" else ""
        )
        before = f"idle={idle[name]:.0f}MiB after warm-up " if args.warmup > 0 else ""
        if new[name] >= 1:
            note += f"; {new[name]:.0f}MiB more in processes it started during the load, still running"
        print(
            f"e2e rss {name}: {before}start={start[name]:.0f}MiB end={end[name]:.0f}MiB growth={growth:+.0f}MiB{note}"
        )
    print(
        f"e2e rss growth bound {args.rss_bound_mb:.0f}MiB per service: {'met' if not over else 'NOT met: ' + ', '.join(over)}"
    )
    return 1 if missing or over else 0
