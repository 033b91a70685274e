"""`journeyline accountability migrate|journey|alerts`: run the migrations and read the shared numbers offline."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlmodel import Session

from services.accountability.alerts import list_alerts
from services.accountability.migrate import upgrade
from services.accountability.ownership import seed
from services.accountability.scorecard import WINDOWS, journey_view
from services.accountability.settings import AccountabilitySettings
from shared.db import make_engine
from shared.journey import load_journey_map
from shared.models import utcnow


def register(sub: Any) -> None:
    parser = sub.add_parser("accountability", help="accountability store: migrations, journey view, alerts")
    inner = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inner.add_parser(
        "migrate", help="apply the database migrations (the service also does this at start-up)"
    ).set_defaults(func=_migrate)
    journey = inner.add_parser("journey", help="print every stage's scorecard and health colour")
    journey.add_argument("--window", choices=list(WINDOWS), default="24h")
    journey.add_argument("--json", action="store_true", help="print JSON instead of a table")
    journey.set_defaults(func=_journey)
    alerts = inner.add_parser("alerts", help="list alerts, newest first")
    alerts.add_argument(
        "--status",
        choices=["open", "acknowledged", "resolved_pending_verification", "verified", "resolved", "active"],
        default="active",
    )
    alerts.add_argument("--stage")
    alerts.set_defaults(func=_alerts)


def _ready() -> tuple[AccountabilitySettings, Any]:
    settings = AccountabilitySettings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with Session(engine) as session:
        seed(session=session, journey=load_journey_map(settings.journey_map), now=utcnow())
        session.commit()
    return settings, engine


def _migrate(args: argparse.Namespace) -> int:
    _, engine = _ready()
    engine.dispose()
    print("accountability schema is up to date")
    return 0


def _journey(args: argparse.Namespace) -> int:
    settings, engine = _ready()
    with Session(engine) as session:
        view = journey_view(
            session=session, journey=load_journey_map(settings.journey_map), window=args.window, now=utcnow()
        )
    engine.dispose()
    if args.json:
        print(view.model_dump_json(indent=2))
        return 0
    print(f"{'stage':<12} {'health':<7} {'volume':>7} {'neg':>6} {'sent':>6} {'alerts':>6}  accountable")
    for card in view.stages:
        share = "-" if card.negative_share is None else f"{card.negative_share:.0%}"
        mean = "-" if card.sentiment_mean is None else f"{card.sentiment_mean:+.2f}"
        print(
            f"{card.stage:<12} {card.health:<7} {card.volume:>7} {share:>6} {mean:>6} {card.open_alerts:>6}  {card.accountable}"
        )
    return 0


def _alerts(args: argparse.Namespace) -> int:
    _, engine = _ready()
    with Session(engine) as session:
        found = list_alerts(session=session, status=args.status, stage=args.stage, rule_id=None, since=None, limit=200)
        rows = [
            {"id": a.id, "stage": a.stage, "rule": a.rule_id, "status": a.status, "count": a.count, "title": a.title}
            for a in found
        ]
    engine.dispose()
    for row in rows:
        print(json.dumps(row))
    return 0
