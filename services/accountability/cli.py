"""`journeyline accountability migrate|journey|alerts|digest`: run the migrations and read the shared numbers offline."""

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
    dig = inner.add_parser("digest", help="compose a weekly digest (print it, or queue it for delivery now)")
    dig.add_argument("--team", default="leadership", help="a team id, or 'leadership' (default)")
    dig.add_argument("--print", dest="print_", action="store_true", help="print the text (and HTML with --html)")
    dig.add_argument("--html", action="store_true", help="with --print: the HTML body instead of the text")
    dig.add_argument("--send", action="store_true", help="queue it to the outbox now (the service delivers it)")
    dig.set_defaults(func=_digest)


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


def _digest(args: argparse.Namespace) -> int:
    from services.accountability import digest, digest_text

    settings, engine = _ready()
    journey = load_journey_map(settings.journey_map)
    now = utcnow()
    with Session(engine) as session:
        data = digest.read_week(session=session, journey=journey, now=now, tz=settings.digest_timezone)
        if args.team != digest.LEADERSHIP and args.team not in data.teams:
            print(f"no team {args.team!r}; known: {', '.join(sorted(data.teams))}")
            return 2
        figures = (
            digest.leadership_figures(data) if args.team == digest.LEADERSHIP else digest.team_figures(data, args.team)
        )
        composed = digest_text.compose(figures)
        if args.print_ or not args.send:
            print(composed.subject)
            print()
            print(composed.html if args.html else composed.text)
        if args.send:
            queued = digest.enqueue_digests(
                session=session, journey=journey, now=now, leadership_emails=settings.digest_leadership_emails,
                leadership_slack=settings.digest_leadership_slack, tz=settings.digest_timezone, only=args.team,
                force=True,
            )  # fmt: skip
            session.commit()
            print(f"queued: {json.dumps(queued)}")
    engine.dispose()
    return 0
