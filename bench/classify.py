"""`journeyline bench classify`: items/s per back-end, the way the consumer runs (batches of 500)."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from services.classify.backends import BACKENDS
from services.classify.onnx_encoder import onnx_available
from services.classify.semantic import ENCODERS, semantic_available


def register_bench(sub: Any) -> None:
    parser = sub.add_parser("classify", help="classifier throughput per back-end (items/s in one process)")
    parser.add_argument("--items", type=int, default=20_000, help="items for the TF-IDF back-end")
    parser.add_argument("--semantic-items", type=int, default=1_000, help="items for the embedding back-ends")
    parser.add_argument("--batch", type=int, default=500, help="items per batch (the consumer's max_records)")
    parser.add_argument("--rounds", type=int, default=3, help="repeat and report best and median (shared machine)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated back-ends to measure")
    parser.add_argument(
        "--encoders",
        default=",".join(ENCODERS),
        help="comma-separated sentence encoders for the embedding back-ends (onnx-int8: ONNX Runtime, int8 weights; "
        "numpy: the exact float32 forward pass)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from services.classify import language
    from services.classify.cli import HELDOUT
    from services.classify.consumer import read_feedback
    from services.classify.service import Classifier
    from services.classify.training import fit, journey_rows, read_labelled_csv
    from shared.cloudevents import CloudEvent, encode
    from shared.journey import load_journey_map
    from shared.models import EventType, Feedback, utcnow
    from shared.settings import CommonSettings

    journey = load_journey_map(CommonSettings().journey_map)
    texts = [r.text for r in read_labelled_csv(HELDOUT)]
    now = utcnow()
    load = os.getloadavg()[0]
    print(
        f"machine: {os.cpu_count()} cores, load average {load:.1f} before the run (others' work slows wall-clock figures; per_cpu_second counts only this process's CPU time, all its threads)"
    )
    print(
        f"texts: {len(texts)} held-out items cycled (each made unique), mean {sum(map(len, texts)) / len(texts):.0f} chars; "
        f"batch={args.batch}"
    )
    for name, encoder in _runs(args):
        if name != "tfidf" and not semantic_available():
            print(f"backend={name} skipped: the [semantic] extra is not installed")
            continue
        if encoder == "onnx-int8" and not onnx_available():
            print(f"backend={name} encoder={encoder} skipped: onnxruntime is not installed")
            continue
        if encoder:
            os.environ["CLASSIFY_ENCODER"] = encoder  # what the model below is trained and classifies with
        n = args.items if name == "tfidf" else args.semantic_items
        items = [
            Feedback(
                id=f"b{i}",
                source="bench",
                channel="other",
                occurred_at=now,
                received_at=now,
                text=f"{texts[i % len(texts)]} #{i}",  # unique texts: no cache sees the same item twice
            )
            for i in range(n)
        ]
        started = time.perf_counter()
        model = fit(name, journey_rows(journey), source="bench")
        trained = time.perf_counter() - started
        classifier = Classifier(journey, model, journey.triage.confidence_threshold)
        language.load()  # the service loads the language detector at start-up
        classifier.classify_many(items[: min(50, n)])  # warm caches and lazy imports
        rates, cpu_rates = [], []
        for _ in range(args.rounds):
            started, cpu_started = time.perf_counter(), time.process_time()
            for i in range(0, n, args.batch):
                classifier.classify_many(items[i : i + args.batch])
            rates.append(n / (time.perf_counter() - started))
            cpu_rates.append(n / max(1e-9, time.process_time() - cpu_started))
        rates.sort()
        cpu_rates.sort()
        # The consumer's whole per-record work: decode + validate, classify the batch, build + encode the output.
        records = []
        for item in items:
            headers, value = encode(
                CloudEvent(
                    id=item.id,
                    source="bench",
                    type=EventType.feedback_received.value,
                    data=item.model_dump(mode="json"),
                )
            )
            records.append(_Record(headers, value))
        started, cpu_started = time.perf_counter(), time.process_time()
        for i in range(0, n, args.batch):
            batch = [read_feedback(r)[1] for r in records[i : i + args.batch]]  # type: ignore[arg-type]
            for feedback, result in zip(batch, classifier.classify_many(batch), strict=True):
                data = feedback.model_dump(mode="json")
                data["classification"] = result.model_dump(mode="json")
                encode(CloudEvent(id=feedback.id, source="bench", type="t", data=data))
        pipeline_rate = n / (time.perf_counter() - started)
        pipeline_cpu_rate = n / max(1e-9, time.process_time() - cpu_started)
        print(
            f"backend={name}{f' encoder={encoder}' if encoder else ''} items={n} rounds={args.rounds} "
            f"train_s={trained:.1f} threads={_threads()} "
            f"classify_items_per_s_best={rates[-1]:,.0f} median={rates[len(rates) // 2]:,.0f} "
            f"per_cpu_second_median={cpu_rates[len(cpu_rates) // 2]:,.0f} "
            f"with_decode_encode_items_per_s={pipeline_rate:,.0f} per_cpu_second={pipeline_cpu_rate:,.0f}",
            flush=True,
        )
    return 0


def _runs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(back-end, encoder) pairs to measure; TF-IDF has no encoder."""
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    unknown = sorted(set(encoders) - set(ENCODERS))
    if unknown:
        raise SystemExit(f"--encoders: unknown {', '.join(unknown)}; choose from {', '.join(ENCODERS)}")
    return [
        (name, "") if name == "tfidf" else (name, e)
        for name in backends
        for e in (encoders if name != "tfidf" else [""])
    ]


def _threads() -> int:
    """Threads this process ran at the end of a measurement (ONNX Runtime's pool, BLAS, the main thread)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


class _Record:
    """Just enough of a ConsumerRecord for decoding."""

    def __init__(self, headers: list[tuple[str, bytes]], value: bytes) -> None:
        self.headers, self.value = headers, value
        self.topic, self.partition, self.offset, self.key = "bench", 0, 0, None
