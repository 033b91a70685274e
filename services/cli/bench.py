"""`journeyline bench [NAME]`: benchmarks that print figures; with no NAME, every benchmark in turn."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

# Each module has `register_bench(subparsers)`, adding one parser whose `func` runs that benchmark.
_BENCHMARKS = (
    "services.ingest.bench",
    "services.classify.bench",
    "services.accountability.bench",
    "services.cli.bench_e2e",
)


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="run benchmarks and print their figures")
    inner = parser.add_subparsers(dest="bench", metavar="NAME")
    for name in _BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register_bench(inner)
    parser.set_defaults(func=_run_all, _inner=inner)


def _run_all(args: argparse.Namespace) -> int:
    inner: Any = args._inner
    code = 0
    for name, sub_parser in inner.choices.items():
        print(f"== bench {name}", flush=True)
        sub_args = sub_parser.parse_args([])
        code |= int(sub_args.func(sub_args) or 0)
    return code
