"""Per-minute roll-ups of each stage's figures, so a window costs the same however many items it holds.

Every stored item adds itself to the bucket of its stage and minute in the same transaction as its row, and a
correction moves it from one stage's bucket to the other's. Aggregating a window's raw rows grew with the data
(238 ms for one 1-hour window of 300,000 items on SQLite, measured), and the alert rules and scorecard gauges
read windows every few seconds.

A bucket is keyed by the END of its minute and holds the items that occurred in (key - 1 minute, key], the
same half-open shape as the windows. A window (start, end] is read as the buckets after `start` rounded down to
its minute, up to `end` rounded up, less any item that occurred after `end` in that last minute. So `end` is
exact, and `start` moves back to the minute it falls in: a one-hour window covers up to 61 minutes.

Contact records also add their operational figures (wait, handle and hold time, transfers) from the metadata
the call-centre adapters write; see `operations`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, MetaData, Select, Table, func, select
from sqlmodel import Session

from services.accountability.bulk import bulk_insert
from services.accountability.models import FeedbackItem, StageHour, StageMinute, columns
from shared.models import Kind

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
_TABLE = StageMinute.__table__  # type: ignore[attr-defined]
_HOURS = StageHour.__table__  # type: ignore[attr-defined]


# The additive figures of a stage over some span, named as `StageMinute`'s columns: volume, negative,
# sentiment_sum, csat_sum, csat_n, ces_sum, ces_n, nps_n, promoters, detractors, then the operational figures of
# contact records: contacts, wait_sum, wait_n, handle_sum, handle_n, hold_sum, hold_n, transfers_sum, transfers_n.
# Means and shares derive from them.
Sums = dict[str, float]
COUNTERS = [c.name for c in _TABLE.columns if c.name not in ("stage", "minute")]

# Operational figures of a contact record: metadata key, roll-up columns (sum, count), largest believable value.
# A figure that is missing, not a number, negative or beyond its bound (a clock or export error) is left out,
# so it moves neither the sum nor the count.
OPERATIONS: tuple[tuple[str, str, str, float], ...] = (
    ("wait_seconds", "wait_sum", "wait_n", 86_400.0),
    ("handle_seconds", "handle_sum", "handle_n", 86_400.0),
    ("hold_seconds", "hold_sum", "hold_n", 86_400.0),
    ("transfers", "transfers_sum", "transfers_n", 100.0),
)
_NO_OPERATIONS: tuple[float, ...] = (0,) * (1 + 2 * len(OPERATIONS))


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


def _number(value: Any, limit: float, *, whole: bool = False) -> float | None:
    """A metadata figure ("74", "12.5", 3) as a number in [0, limit], or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or not 0 <= number <= limit or (whole and not number.is_integer()):
        return None
    return number


def operations(row: Mapping[Any, Any]) -> tuple[float, ...]:
    """A contact record's operational figures: (contacts, then sum and count per figure of `OPERATIONS`).

    Read from `data["metadata"]`; `contacts` is 1 when at least one figure is usable. Other kinds give zeros.
    """
    if row["kind"] != Kind.contact.value:
        return _NO_OPERATIONS
    data = row.get("data")
    metadata = data.get("metadata") if isinstance(data, Mapping) else None
    if not isinstance(metadata, Mapping):
        return _NO_OPERATIONS
    out: list[float] = [0]
    for key, _, _, limit in OPERATIONS:
        number = _number(metadata.get(key), limit, whole=key == "transfers")
        out += (0, 0) if number is None else (number, 1)
    out[0] = any(out[2::2])
    return tuple(out)


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
        *operations(row),
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


def hour_of(minute: datetime) -> datetime:
    """The key of the hour bucket holding a minute bucket: the end of its hour ((key - 1 h, key])."""
    floor = _aware(minute).replace(minute=0, second=0, microsecond=0)
    return floor if floor == _aware(minute) else floor + HOUR


def _hour_buckets(minutes: Iterable[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    """Minute buckets added up per (stage, hour), sorted by key."""
    totals: dict[tuple[str, datetime], dict[str, Any]] = {}
    for bucket in minutes:
        key = (bucket["stage"], hour_of(bucket["minute"]))
        total = totals.get(key)
        if total is None:
            totals[key] = {"stage": key[0], "hour": key[1], **{n: bucket[n] for n in COUNTERS}}
        else:
            for name in COUNTERS:
                total[name] += bucket[name]
    return [totals[key] for key in sorted(totals)]


def add_rows(*, session: Session, rows: Iterable[Mapping[str, Any]], sign: int = 1) -> None:
    """Count feedback rows into (sign=1) or out of (sign=-1) their stage's minute and hour buckets."""
    buckets = _buckets(rows, sign)
    if buckets:
        # Sorted by key, so that two writers lock the same buckets in the same order (no deadlock on PostgreSQL).
        bulk_insert(session=session, table=_TABLE, rows=buckets, conflict=["stage", "minute"], increment=COUNTERS)
        hours = _hour_buckets(buckets)
        bulk_insert(session=session, table=_HOURS, rows=hours, conflict=["stage", "hour"], increment=COUNTERS)


def move(*, session: Session, row: Mapping[str, Any], to_stage: str) -> None:
    """A correction: the item leaves its current stage's bucket for `to_stage`'s."""
    add_rows(session=session, rows=[row], sign=-1)
    add_rows(session=session, rows=[{**row, "stage": to_stage}])


def _figure_rows() -> Select[Any]:
    """What `contribution` reads of each stored item."""
    f = columns(FeedbackItem)
    return select(
        f.stage, f.kind, f.occurred_at, f.sentiment_label, f.sentiment_score, f.csat, f.ces, f.nps, f.data
    ).where(f.kind != Kind.journey_event.value)


def _raw_sums(session: Session, start: datetime, end: datetime, stage: str | None) -> dict[str, Sums]:
    """Sums straight from the feedback rows that occurred in (start, end], which lies within one minute."""
    f = columns(FeedbackItem)
    query = _figure_rows().where(f.occurred_at > start, f.occurred_at <= end)
    if stage is not None:
        query = query.where(f.stage == stage)
    out: dict[str, Sums] = {}
    for bucket in _buckets(session.execute(query).mappings()):
        sums = out.setdefault(bucket["stage"], dict.fromkeys(COUNTERS, 0))
        for name in COUNTERS:
            sums[name] += bucket[name]
    return out


def _sums(values: Iterable[Any]) -> Sums:
    """Sums from a row of SQL aggregates in `COUNTERS` order (NULL when nothing was summed)."""
    return {
        name: float(v or 0) if name.endswith("_sum") else int(v or 0) for name, v in zip(COUNTERS, values, strict=True)
    }


def _span_sums(
    session: Session, table: Table, key: str, start: datetime, end: datetime, stage: str | None
) -> dict[str, Sums]:
    """Per stage, the buckets of `table` whose key lies in (start, end]."""
    if end <= start:
        return {}
    t = table.c
    query = select(t.stage, *[func.sum(t[name]) for name in COUNTERS]).where(t[key] > start, t[key] <= end)
    if stage is not None:
        query = query.where(t.stage == stage)
    return {row[0]: _sums(row[1:]) for row in session.execute(query.group_by(t.stage))}


def _add(total: dict[str, Sums], part: dict[str, Sums]) -> None:
    for name, sums in part.items():
        into = total.setdefault(name, dict.fromkeys(COUNTERS, 0))
        for counter in COUNTERS:
            into[counter] += sums[counter]


def window_sums(*, session: Session, start: datetime, end: datetime, stage: str | None = None) -> dict[str, Sums]:
    """Per stage, the sums for (start rounded down to its minute, end].

    The whole hours inside the window come from the hour buckets, the minutes before the first and after the last
    whole hour from the minute buckets: a 30-day window reads about 720 + 120 buckets per stage, not 43,200."""
    start, last = floor_minute(start), bucket_of(end)
    if last <= start:
        return {}
    first_hour = hour_of(start)  # the first hour boundary at or after the start
    last_hour = last.replace(minute=0, second=0, microsecond=0)  # the last one at or before the end
    out: dict[str, Sums] = {}
    if last_hour - first_hour >= HOUR:
        _add(out, _span_sums(session, _TABLE, "minute", start, first_hour, stage))
        _add(out, _span_sums(session, _HOURS, "hour", first_hour, last_hour, stage))
        _add(out, _span_sums(session, _TABLE, "minute", last_hour, last, stage))
    else:
        _add(out, _span_sums(session, _TABLE, "minute", start, last, stage))
    if last != _aware(end):  # items after `end` in its minute (normally none: they would lie in the future)
        for name, later in _raw_sums(session, _aware(end), last, stage).items():
            _subtract(out.setdefault(name, dict.fromkeys(COUNTERS, 0)), later)
    return {name: sums for name, sums in out.items() if sums["volume"] > 0}


def _narrow(counters: Sequence[str]) -> Table:
    """`acct_stage_minutes` with only its key and `counters`, as an earlier migration left it."""
    keep = {"stage", "minute", *counters}
    cols = [Column(c.name, c.type, primary_key=c.primary_key) for c in _TABLE.columns if c.name in keep]
    return Table(_TABLE.name, MetaData(), *cols)


def rebuild(*, session: Session, counters: Sequence[str] | None = None) -> int:
    """Recount every bucket from the feedback rows (after a restore or a manual fix); returns the buckets.

    `counters`: the columns to fill, for a migration that runs while the table has only some of `COUNTERS`.
    """
    names = list(COUNTERS if counters is None else counters)
    unknown = set(names) - set(COUNTERS)
    if unknown:
        raise ValueError(f"not roll-up columns: {sorted(unknown)}")
    table = _TABLE if names == COUNTERS else _narrow(names)
    session.execute(table.delete())
    buckets = [
        {"stage": b["stage"], "minute": b["minute"], **{n: b[n] for n in names}}
        for b in _buckets(session.execute(_figure_rows().execution_options(yield_per=10_000)).mappings())
    ]
    for i in range(0, len(buckets), 5000):
        bulk_insert(session=session, table=table, rows=buckets[i : i + 5000], conflict=["stage", "minute"])
    if counters is None:  # a migration before 0011 has no hour table yet; it fills the hours itself
        _insert_hours(session, _hour_buckets(buckets))
    return len(buckets)


def rebuild_hours(*, session: Session) -> int:
    """Recount the hour buckets from the minute buckets; returns the hour buckets."""
    m = columns(StageMinute)
    minutes = session.execute(select(_TABLE).order_by(m.stage, m.minute).execution_options(yield_per=10_000))
    return _insert_hours(session, _hour_buckets(minutes.mappings()))


def _insert_hours(session: Session, hours: list[dict[str, Any]]) -> int:
    session.execute(_HOURS.delete())
    for i in range(0, len(hours), 5000):
        bulk_insert(session=session, table=_HOURS, rows=hours[i : i + 5000], conflict=["stage", "hour"])
    return len(hours)
