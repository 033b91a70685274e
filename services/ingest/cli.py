"""`journeyline sources add|list|rotate|revoke`, and the dev runner's demo source."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from services.ingest.models import Adapter, SourceCreate
from services.ingest.settings import IngestSettings
from services.ingest.sources import (
    InvalidMapping,
    SourceError,
    add_source,
    create_tables,
    ensure_source_key,
    list_sources,
    revoke_source,
    rotate_key,
)
from shared.db import make_engine
from shared.models import Channel
from shared.settings import CommonSettings


def demo_source_key(settings: CommonSettings) -> str:
    """Create the `demo` source (or rotate its key) and return the clear key."""
    engine = make_engine(settings.database_url)
    try:
        create_tables(engine)
        with Session(engine) as session:
            return ensure_source_key(session=session, name="demo", channel=Channel.other, adapter=Adapter.generic)
    finally:
        engine.dispose()


def register(sub: Any) -> None:
    parser = sub.add_parser("sources", help="manage the sources allowed to post events (and their API keys)")
    inner = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = inner.add_parser("add", help="add a source; prints its new API key alone on the last line")
    add.add_argument("name")
    add.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    add.add_argument("--adapter", default=Adapter.generic.value, choices=[a.value for a in Adapter])
    add.add_argument("--rate-limit", type=float, default=None, help="events/s for this source (0 = unlimited)")
    add.add_argument(
        "--no-redact",
        dest="redact",
        action="store_false",
        help="keep e-mail addresses, phone, card numbers and IBANs in this source's text (redacted by default)",
    )
    add.add_argument(
        "--mapping",
        type=_json_object,
        default=None,
        help='for --adapter mapping: canonical field -> path into the payload, as JSON ({"text": "body", ...})',
    )
    add.set_defaults(func=_add)

    inner.add_parser("list", help="list sources (keys are never shown)").set_defaults(func=_list)

    rotate = inner.add_parser("rotate", help="issue a new key; prints it alone on the last line")
    rotate.add_argument("name")
    rotate.set_defaults(func=_rotate)

    revoke = inner.add_parser("revoke", help="stop accepting the source's key (takes effect within seconds)")
    revoke.add_argument("name")
    revoke.set_defaults(func=_revoke)


def _session() -> Session:
    engine = make_engine(IngestSettings().database_url)
    create_tables(engine)
    return Session(engine)


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def _json_object(text: str) -> dict[str, str]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise argparse.ArgumentTypeError("a JSON object of field -> path strings")
    return value


def _add(args: argparse.Namespace) -> int:
    with _session() as session:
        try:
            create = SourceCreate(
                name=args.name,
                channel=args.channel,
                adapter=args.adapter,
                rate_limit=args.rate_limit,
                redact=args.redact,
                mapping=args.mapping,
            )
            row, key = add_source(session=session, source=create)
        except ValidationError as exc:
            return _fail(ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())))
        except (SourceError, InvalidMapping) as exc:
            return _fail(exc)
    print(
        f"source {row.name} added (channel {row.channel.value}, adapter {row.adapter.value}); its API key, shown once:"
    )
    print(key)
    return 0


def _list(_: argparse.Namespace) -> int:
    with _session() as session:
        rows = list_sources(session=session)
    print(f"{'NAME':<24} {'CHANNEL':<8} {'ADAPTER':<12} {'KEY':<12} {'RATE':>8}  STATE")
    for row in rows:
        rate = "default" if row.rate_limit is None else f"{row.rate_limit:g}"
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        print(
            f"{row.name:<24} {row.channel.value:<8} {row.adapter.value:<12} {row.key_hint + '…':<12} {rate:>8}  {state}"
        )
    return 0


def _rotate(args: argparse.Namespace) -> int:
    with _session() as session:
        try:
            row, key = rotate_key(session=session, name=args.name)
        except SourceError as exc:
            return _fail(exc)
    print(f"source {row.name}: new API key (the old one stops working within seconds), shown once:")
    print(key)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with _session() as session:
        try:
            row = revoke_source(session=session, name=args.name)
        except SourceError as exc:
            return _fail(exc)
    print(f"source {row.name} revoked; its key stops working within seconds")
    return 0
