"""`journeyline bench [NAME]`: benchmarks that print figures; with no NAME, every benchmark in turn."""

from __future__ import annotations

import argparse
from typing import Any

from services.cli.main import present_modules

# Each module has `register_bench(subparsers)`, adding one parser whose `func` runs that benchmark.
_BENCHMARKS = (
    "bench.ingest",
    "bench.classify",
    "bench.accountability",
    "bench.evidence",
    "bench.board",
    "bench.e2e",
    "bench.broker",
)


def register(sub: Any) -> None:
    parser = sub.add_parser("bench", help="run benchmarks and print their figures")
    inner = parser.add_subparsers(dest="bench", metavar="NAME")
    for module in present_modules(_BENCHMARKS):
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
