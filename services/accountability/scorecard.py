"""Shared stage scorecards over windows: the same numbers for every team of a stage, with trend and colour."""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from services.accountability.models import Alert, columns
from services.accountability.ownership import all_owners
from services.accountability.rollup import Sums, floor_minute, window_sums
from services.accountability.schemas import Health, JourneyView, Scorecard, Trend
from shared.journey import HealthThresholds, JourneyMap

WINDOWS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OPEN_STATUSES = ("open", "acknowledged")


def parse_duration(text: str | int | float) -> timedelta:
    """`90s`, `15m`, `1h`, `30d` (or a number of seconds) as a timedelta."""
    if isinstance(text, int | float):
        return timedelta(seconds=float(text))
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


@dataclass(frozen=True)
class StageNumbers:
    volume: int = 0
    negative: int = 0
    sentiment_mean: float | None = None
    csat_mean: float | None = None
    ces_mean: float | None = None
    nps_answers: int = 0
    promoters: int = 0
    detractors: int = 0

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.volume if self.volume else None

    @property
    def nps(self) -> float | None:
        """Net promoter score, -100..100, from the items that carry an NPS answer."""
        if not self.nps_answers:
            return None
        return round(100.0 * (self.promoters - self.detractors) / self.nps_answers, 1)


def stage_numbers(
    *, session: Session, start: datetime, end: datetime, stage: str | None = None
) -> dict[str, StageNumbers]:
    """Per stage: volume, negatives, means and NPS parts for feedback that occurred in (start, end].

    Read from the per-minute roll-ups, so `start` counts from the beginning of its minute (see `rollup`).
    """
    return {
        name: numbers_of(sums) for name, sums in window_sums(session=session, start=start, end=end, stage=stage).items()
    }


def numbers_of(sums: Sums) -> StageNumbers:
    def mean(total: float, n: float) -> float | None:
        return _round(total / n) if n else None

    return StageNumbers(
        volume=int(sums["volume"]),
        negative=int(sums["negative"]),
        sentiment_mean=mean(sums["sentiment_sum"], sums["volume"]),
        csat_mean=mean(sums["csat_sum"], sums["csat_n"]),
        ces_mean=mean(sums["ces_sum"], sums["ces_n"]),
        nps_answers=int(sums["nps_n"]),
        promoters=int(sums["promoters"]),
        detractors=int(sums["detractors"]),
    )


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def health_colour(numbers: StageNumbers, thresholds: HealthThresholds) -> tuple[Health, str]:
    """Green / yellow / red from the stage's thresholds; too little volume is green (nothing to judge)."""
    if numbers.volume < thresholds.min_volume:
        return "green", f"volume {numbers.volume} below {thresholds.min_volume}: not enough to judge"
    share, csat = numbers.negative_share or 0.0, numbers.csat_mean
    if share >= thresholds.red_negative_share:
        return "red", f"negative share {share:.0%} >= {thresholds.red_negative_share:.0%}"
    if csat is not None and csat < thresholds.red_csat_below:
        return "red", f"CSAT {csat:.2f} < {thresholds.red_csat_below}"
    if share >= thresholds.yellow_negative_share:
        return "yellow", f"negative share {share:.0%} >= {thresholds.yellow_negative_share:.0%}"
    if csat is not None and csat < thresholds.yellow_csat_below:
        return "yellow", f"CSAT {csat:.2f} < {thresholds.yellow_csat_below}"
    return "green", "within thresholds"


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


def journey_view(*, session: Session, journey: JourneyMap, window: str, now: datetime) -> JourneyView:
    """Every stage in journey order (then `unassigned`), each with its scorecard and colour."""
    span = WINDOWS[window]
    start = floor_minute(now - span)  # the roll-ups count whole minutes back from now (see `rollup`)
    current = stage_numbers(session=session, start=start, end=now)
    previous = stage_numbers(session=session, start=start - span, end=start)
    open_counts, ack_medians = _alert_numbers(session=session, start=start, end=now)
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
