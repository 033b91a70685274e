"""The `journeyline` command: one entry point, sub-commands contributed by each part of the system."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

# Modules that add sub-commands: each has `register(subparsers)`; a missing one is skipped.
_CONTRIBUTORS = (
    "services.ingest.cli",
    "services.classify.cli",
    "services.accountability.cli",
    "services.cli.demo",
    "services.cli.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="journeyline", description="Route customer feedback to the teams that own it."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = sub.add_parser("dev", help="run the embedded stack: broker, SQLite and the three services")
    dev.add_argument("--var-dir", type=Path, default=Path("var"), help="where the database and logs go")
    dev.add_argument("--broker-port", type=int, default=9092)
    dev.add_argument(
        "--broker",
        choices=("tansu", "kafka"),
        default=None,
        help="tansu: the embedded broker, instant, memory only (default; JOURNEYLINE_BROKER sets it too); "
        "kafka: Apache Kafka, resolved through Maven, storage on disk under --var-dir",
    )
    for name, port in (("ingest", 8001), ("classify", 8002), ("accountability", 8003)):
        dev.add_argument(f"--{name}-port", type=int, default=port)
    dev.set_defaults(func=_dev)

    for module in present_modules(_CONTRIBUTORS):
        module.register(sub)
    return parser


def present_modules(names: Iterable[str]) -> Iterator[ModuleType]:
    """Import each named module that exists (a missing one is skipped; an error inside one is raised)."""
    for name in names:
        try:
            yield importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


def _dev(args: argparse.Namespace) -> int:
    from services.cli.brokers import broker_kind
    from services.cli.dev import run_dev

    ports = {name: getattr(args, f"{name}_port") for name in ("ingest", "classify", "accountability")}
    broker = args.broker or broker_kind()
    return run_dev(var_dir=args.var_dir, broker_port=args.broker_port, ports=ports, broker=broker)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
