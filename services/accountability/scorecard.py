"""Shared stage scorecards over windows: the same numbers for every team of a stage, with trend and colour."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from services.accountability.models import Alert, columns
from services.accountability.ownership import all_owners
from services.accountability.rollup import floor_minute, window_sums
from services.accountability.rules import (  # noqa: F401  (the figures and the rules; imported from here too)
    OPEN_STATUSES,
    AlertFacts,
    StageNumbers,
    health_colour,
    numbers_of,
    parse_duration,
    resolution_figures,
)
from services.accountability.schemas import JourneyView, Operations, Resolutions, Scorecard, Trend
from shared.journey import HealthThresholds, JourneyMap

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


def stage_numbers(
    *, session: Session, start: datetime, end: datetime, stage: str | None = None
) -> dict[str, StageNumbers]:
    """Per stage: volume, negatives, means and NPS parts for feedback that occurred in (start, end].

    Read from the per-minute roll-ups, so `start` counts from the beginning of its minute (see `rollup`).
    """
    return {
        name: numbers_of(sums) for name, sums in window_sums(session=session, start=start, end=end, stage=stage).items()
    }


def operations(numbers: StageNumbers) -> Operations:
    return Operations(
        contacts=numbers.contacts,
        wait_mean_s=numbers.wait_mean,
        handle_mean_s=numbers.handle_mean,
        hold_mean_s=numbers.hold_mean,
        transfers_per_contact=numbers.transfers_per_contact,
    )


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def trend(current: StageNumbers, previous: StageNumbers) -> Trend:
    """The current window against the one before it."""
    volume_change = None
    if previous.volume:
        volume_change = round((current.volume - previous.volume) / previous.volume, 4)
    share_change = _diff(current.negative_share, previous.negative_share)
    sentiment_change = _diff(current.sentiment_mean, previous.sentiment_mean)
    direction: str = "unknown"
    if share_change is not None:
        direction = "worsening" if share_change > 0.05 else "improving" if share_change < -0.05 else "steady"
    return Trend(
        previous_volume=previous.volume,
        previous_negative_share=_round(previous.negative_share),
        previous_sentiment_mean=previous.sentiment_mean,
        volume_change=volume_change,
        negative_share_change=share_change,
        sentiment_change=sentiment_change,
        direction=direction,  # type: ignore[arg-type]
    )


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def _alert_numbers(*, session: Session, start: datetime, end: datetime) -> tuple[dict[str, int], dict[str, float]]:
    open_counts = dict(
        session.execute(
            select(columns(Alert).stage, func.count())
            .where(columns(Alert).status.in_(OPEN_STATUSES))
            .group_by(columns(Alert).stage)
        ).all()
    )
    acks: dict[str, list[float]] = {}
    rows = session.execute(
        select(columns(Alert).stage, columns(Alert).opened_at, columns(Alert).acknowledged_at).where(
            columns(Alert).acknowledged_at > start,
            columns(Alert).acknowledged_at <= end,
        )
    )
    for stage, opened, acked in rows:
        acks.setdefault(stage, []).append((acked - opened).total_seconds())
    return open_counts, {stage: round(statistics.median(v), 3) for stage, v in acks.items()}


def _when_s(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def alert_facts(*, session: Session, start: datetime, end: datetime) -> dict[str, list[AlertFacts]]:
    """Per stage, the facts of the alerts that opened in (start, end] (alerts are few: read them, then count)."""
    a = columns(Alert)
    query = select(Alert).where(a.opened_at > start, a.opened_at <= end)
    found: dict[str, list[AlertFacts]] = {}
    for alert in session.execute(query).scalars():
        details = alert.details or {}
        verification = details.get("verification") or {}
        followups = details.get("followups") or {}
        verified = alert.status == "verified" and isinstance(verification, dict)
        found.setdefault(alert.stage, []).append(
            AlertFacts(
                status=alert.status,
                opened_at_s=alert.opened_at.timestamp(),
                acknowledged_at_s=alert.acknowledged_at.timestamp() if alert.acknowledged_at else None,
                verified_at_s=_when_s(verification.get("at")) if verified else None,
                reopened=len(details.get("reopened") or []),
                followups_answered=int(followups.get("answered", 0) or 0),
                followups_agreed=int(followups.get("agreed", 0) or 0),
            )
        )
    return found


def resolutions(facts: list[AlertFacts]) -> Resolutions:
    return Resolutions(**asdict(resolution_figures(facts)))


def team_resolutions(
    *, session: Session, journey: JourneyMap, team: str, window: str, now: datetime
) -> tuple[list[str], Resolutions]:
    """The stages a team is accountable for, and how their alerts were worked over the window."""
    return teams_resolutions(session=session, journey=journey, teams=[team], window=window, now=now)[team]


def teams_resolutions(
    *, session: Session, journey: JourneyMap, teams: Iterable[str], window: str, now: datetime
) -> dict[str, tuple[list[str], Resolutions]]:
    """`team_resolutions` of several teams, reading the window's alerts and the owners once."""
    start = floor_minute(now - WINDOWS[window])
    owners = all_owners(session=session)
    facts = alert_facts(session=session, start=start, end=now)
    found = {}
    for team in teams:
        stages = [s for s in journey.stage_ids if (own := owners.get(s)) is not None and own.accountable == team]
        found[team] = (stages, resolutions([f for stage in stages for f in facts.get(stage, [])]))
    return found


def journey_view(*, session: Session, journey: JourneyMap, window: str, now: datetime) -> JourneyView:
    """Every stage in journey order (then `unassigned`), each with its scorecard and colour."""
    span = WINDOWS[window]
    start = floor_minute(now - span)  # the roll-ups count whole minutes back from now (see `rollup`)
    current = stage_numbers(session=session, start=start, end=now)
    previous = stage_numbers(session=session, start=start - span, end=start)
    open_counts, ack_medians = _alert_numbers(session=session, start=start, end=now)
    facts = alert_facts(session=session, start=start, end=now)
    owners = all_owners(session=session)
    cards = []
    for stage_id in journey.stage_ids:
        stage = journey.stage(stage_id)
        thresholds = stage.health if stage else HealthThresholds()
        numbers = current.get(stage_id, StageNumbers())
        colour, reason = health_colour(numbers, thresholds)
        own = owners.get(stage_id)
        cards.append(
            Scorecard(
                stage=stage_id,
                name=stage.name if stage else "Unassigned (triage)",
                order=stage.order if stage else len(journey.stages) + 1,
                window=window,
                start=start,
                end=now,
                volume=numbers.volume,
                negative_share=_round(numbers.negative_share),
                sentiment_mean=numbers.sentiment_mean,
                csat_mean=numbers.csat_mean,
                nps=numbers.nps,
                ces_mean=numbers.ces_mean,
                open_alerts=int(open_counts.get(stage_id, 0)),
                median_time_to_ack_s=ack_medians.get(stage_id),
                operations=operations(numbers),
                resolutions=resolutions(facts.get(stage_id, [])),
                trend=trend(numbers, previous.get(stage_id, StageNumbers())),
                health=colour,
                health_reason=reason,
                accountable=own.accountable if own else "",
                contributing=list(own.contributing) if own else [],
            )
        )
    return JourneyView(window=window, start=start, end=now, stages=cards)


def scorecard(*, session: Session, journey: JourneyMap, stage: str, window: str, now: datetime) -> Scorecard | None:
    """One stage's scorecard, or None for an unknown stage."""
    if stage not in journey.stage_ids:
        return None
    view = journey_view(session=session, journey=journey, window=window, now=now)
    return next(card for card in view.stages if card.stage == stage)
