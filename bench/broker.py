"""`journeyline bench broker`: one produce -> consume hop on a fresh embedded broker, to show how the broker's
CPU and the hop's latency change over a run with the producer's linger and the consumer's poll pacing.

Tansu (memory storage) walks a partition's record batches on every fetch, so each fetch costs more the more
it retains: with many small batches and a consumer that fetches as fast as it can, the broker's CPU climbs
over a few minutes until it saturates a core. Larger batches (linger) and fewer fetches (pacing) keep it flat.
The producer, the consumer and its loop are the services' own (`shared.kafka`). Each configuration runs on a broker of its own, one after the other, with the same load: `--rate` records/s
sent in keyed groups of `--per-send` (like ingest answering 10-event requests), on a fixed schedule."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.load import cpu_seconds, p99_by_slice
from services.cli.embedded import EmbeddedBroker, free_port
from shared.kafka import ConsumerLoop, make_consumer, make_producer
from shared.settings import KafkaSettings


def register_bench(sub: Any) -> None:
    parser = sub.add_parser("broker", help="embedded broker CPU and hop latency over a run, by linger and pacing")
    parser.add_argument("--rate", type=float, default=1000.0, help="records per second (default 1000)")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each run (default 120)")
    parser.add_argument("--per-send", type=int, default=10, help="records sent together, keyed (default 10)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the topic (default 6)")
    parser.add_argument(
        "--configs",
        default="2:0,10:50",
        help="linger_ms:poll_interval_ms pairs, comma-separated (default 2:0,10:50: before and after)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print(
        f"broker: {args.rate:.0f} records/s in keyed sends of {args.per_send}, {args.partitions} partitions, "
        f"{args.seconds:.0f}s per configuration; {os.cpu_count()} CPUs"
    )
    for pair in args.configs.split(","):
        linger, pace = (int(x) for x in pair.split(":"))
        cpu, by_slice, sent, received = asyncio.run(_one(args, linger_ms=linger, poll_interval_ms=pace))
        print(
            f"broker linger={linger}ms poll-interval={pace}ms: broker CPU {cpu:.0%} of a core; "
            f"p99 by 30s {by_slice}; received {received}/{sent}"
        )
    return 0


async def _one(args: argparse.Namespace, *, linger_ms: int, poll_interval_ms: int) -> tuple[float, str, int, int]:
    broker = EmbeddedBroker(port=free_port()).start()
    assert broker.process is not None
    servers = broker.bootstrap_servers
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        await admin.create_topics([NewTopic("hop", args.partitions, 1)])
        await admin.close()
        kafka = KafkaSettings(engine="tansu", bootstrap_servers=servers)  # the services' client settings
        producer = make_producer(kafka, client_id="bench-broker", linger_ms=linger_ms)
        consumer = make_consumer(kafka, group="hop", topics=["hop"], client_id="bench-broker")
        await producer.start()
        await consumer.start()
        latencies: list[tuple[float, float]] = []  # (sent at, latency)
        loop = ConsumerLoop(consumer, _recorder(latencies), group="hop", min_poll_interval_ms=poll_interval_ms)
        loop.start()
        await asyncio.sleep(3)  # joined the group
        started, cpu_start = time.time(), cpu_seconds(broker.process.pid)
        sends = await _load(producer, args, started)
        took = time.time() - started
        cpu = cpu_seconds(broker.process.pid) - cpu_start
        await asyncio.gather(*sends)
        await asyncio.sleep(2)
        await loop.stop()
        await producer.stop()
    finally:
        broker.stop()
    return cpu / took, p99_by_slice(latencies, started), len(sends) * args.per_send, len(latencies)


async def _load(producer: AIOKafkaProducer, args: argparse.Namespace, started: float) -> list[asyncio.Task[Any]]:
    body = b"x" * 400
    every = args.per_send / args.rate
    sends: list[asyncio.Task[Any]] = []
    k = 0
    while time.time() - started < args.seconds:
        await asyncio.sleep(max(0.0, started + k * every - time.time()))
        sends.append(asyncio.create_task(_send(producer, body, k, args.per_send)))
        k += 1
    return sends


async def _send(producer: AIOKafkaProducer, body: bytes, k: int, per_send: int) -> None:
    stamp = f"{time.time():<20}".encode()
    acks = [
        await producer.send("hop", stamp + body, key=f"cus-{(k * per_send + i) % 5000}".encode())
        for i in range(per_send)
    ]
    await asyncio.gather(*acks)


def _recorder(latencies: list[tuple[float, float]]) -> Any:
    async def handle(records: list[ConsumerRecord]) -> None:
        now = time.time()
        for record in records:
            assert record.value is not None
            sent = float(record.value[:20])
            latencies.append((sent, now - sent))

    return handle
