"""Per-minute roll-ups of each stage's figures, so a window costs the same however many items it holds.

Every stored item adds itself to the bucket of its stage and minute in the same transaction as its row, and a
correction moves it from one stage's bucket to the other's. Aggregating a window's raw rows grew with the data
(238 ms for one 1-hour window of 300,000 items on SQLite, measured), and the alert rules and scorecard gauges
read windows every few seconds.

A bucket is keyed by the END of its minute and holds the items that occurred in (key - 1 minute, key], the
same half-open shape as the windows. A window (start, end] is read as the buckets after `start` rounded down to
its minute, up to `end` rounded up, less any item that occurred after `end` in that last minute. So `end` is
exact, and `start` moves back to the minute it falls in: a one-hour window covers up to 61 minutes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from services.accountability.bulk import bulk_insert
from services.accountability.models import FeedbackItem, StageMinute, columns
from shared.models import Kind

MINUTE = timedelta(minutes=1)
_TABLE = StageMinute.__table__  # type: ignore[attr-defined]


# The additive figures of a stage over some span, named as `StageMinute`'s columns: volume, negative,
# sentiment_sum, csat_sum, csat_n, ces_sum, ces_n, nps_n, promoters, detractors. Means and shares derive from them.
Sums = dict[str, float]
COUNTERS = [c.name for c in _TABLE.columns if c.name not in ("stage", "minute")]


def _subtract(total: Sums, part: Sums) -> None:
    for name in COUNTERS:
        total[name] = total.get(name, 0) - part[name]


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def floor_minute(when: datetime) -> datetime:
    return _aware(when).replace(second=0, microsecond=0)


def bucket_of(occurred_at: datetime) -> datetime:
    """The key of the bucket holding an item: the end of the minute it occurred in ((key - 1 min, key])."""
    floor = floor_minute(occurred_at)
    return floor if floor == _aware(occurred_at) else floor + MINUTE


def contribution(row: Mapping[Any, Any]) -> tuple[float, ...] | None:
    """One feedback row's figures in `COUNTERS` order, or None for journey events (they are not feedback)."""
    if row["kind"] == Kind.journey_event.value:
        return None
    csat, ces, nps = row["csat"], row["ces"], row["nps"]
    return (
        1,
        row["sentiment_label"] == "negative",
        row["sentiment_score"],
        csat or 0,
        csat is not None,
        ces or 0,
        ces is not None,
        nps is not None,
        nps is not None and nps >= 9,
        nps is not None and nps <= 6,
    )


def _buckets(rows: Iterable[Mapping[Any, Any]], sign: int = 1) -> list[dict[str, Any]]:
    """The rows' figures added up per (stage, minute), as bucket rows sorted by key."""
    totals: dict[tuple[str, datetime], list[float]] = {}
    for row in rows:
        figures = contribution(row)
        if figures is None:
            continue
        key = (row["stage"], bucket_of(row["occurred_at"]))
        total = totals.get(key)
        if total is None:
            totals[key] = [sign * v for v in figures]
        else:
            for i, v in enumerate(figures):
                total[i] += sign * v
    return [{"stage": stage, "minute": minute, **_sums(total)} for (stage, minute), total in sorted(totals.items())]


def add_rows(*, session: Session, rows: Iterable[Mapping[str, Any]], sign: int = 1) -> None:
    """Count feedback rows into (sign=1) or out of (sign=-1) their stage's minute buckets."""
    buckets = _buckets(rows, sign)
    if buckets:
        # Sorted by key, so that two writers lock the same buckets in the same order (no deadlock on PostgreSQL).
        bulk_insert(session=session, table=_TABLE, rows=buckets, conflict=["stage", "minute"], increment=COUNTERS)


def move(*, session: Session, row: Mapping[str, Any], to_stage: str) -> None:
    """A correction: the item leaves its current stage's bucket for `to_stage`'s."""
    add_rows(session=session, rows=[row], sign=-1)
    add_rows(session=session, rows=[{**row, "stage": to_stage}])


def _raw_sums(session: Session, start: datetime, end: datetime, stage: str | None) -> dict[str, Sums]:
    """Sums straight from the feedback rows that occurred in (start, end]."""
    f = columns(FeedbackItem)
    query = (
        select(
            f.stage,
            func.count(),
            func.sum(case((f.sentiment_label == "negative", 1), else_=0)),
            func.sum(f.sentiment_score),
            func.sum(f.csat),
            func.count(f.csat),
            func.sum(f.ces),
            func.count(f.ces),
            func.count(f.nps),
            func.sum(case((f.nps >= 9, 1), else_=0)),
            func.sum(case((f.nps <= 6, 1), else_=0)),
        )
        .where(f.occurred_at > start, f.occurred_at <= end, f.kind != Kind.journey_event.value)
        .group_by(f.stage)
    )
    if stage is not None:
        query = query.where(f.stage == stage)
    return {row[0]: _sums(row[1:]) for row in session.execute(query)}


def _sums(values: Iterable[Any]) -> Sums:
    """Sums from a row of SQL aggregates in `COUNTERS` order (NULL when nothing was summed)."""
    return {
        name: float(v or 0) if name.endswith("_sum") else int(v or 0) for name, v in zip(COUNTERS, values, strict=True)
    }


def window_sums(*, session: Session, start: datetime, end: datetime, stage: str | None = None) -> dict[str, Sums]:
    """Per stage, the sums for (start rounded down to its minute, end]."""
    start, last = floor_minute(start), bucket_of(end)
    if last <= start:
        return {}
    m = columns(StageMinute)
    query = (
        select(m.stage, *[func.sum(m[name]) for name in COUNTERS])
        .where(m.minute > start, m.minute <= last)
        .group_by(m.stage)
    )
    if stage is not None:
        query = query.where(m.stage == stage)
    out = {row[0]: _sums(row[1:]) for row in session.execute(query)}
    if last != _aware(end):  # items after `end` in its minute (normally none: they would lie in the future)
        for name, later in _raw_sums(session, _aware(end), last, stage).items():
            _subtract(out.setdefault(name, {}), later)
    return {name: sums for name, sums in out.items() if sums["volume"] > 0}


def rebuild(*, session: Session) -> int:
    """Recount every bucket from the feedback rows (after a restore or a manual fix); returns the buckets."""
    session.execute(_TABLE.delete())
    f = columns(FeedbackItem)
    query = select(
        f.stage, f.kind, f.occurred_at, f.sentiment_label, f.sentiment_score, f.csat, f.ces, f.nps
    ).execution_options(yield_per=10_000)
    buckets = _buckets(session.execute(query).mappings())
    for i in range(0, len(buckets), 5000):
        bulk_insert(session=session, table=_TABLE, rows=buckets[i : i + 5000], conflict=["stage", "minute"])
    return len(buckets)
