"""Counting items into themes: `acct_theme_items` (which item is in which theme, with the figures it counted) and
`acct_theme_hours` (the figures per stage, theme and hour), and the job's watermark. An erasure or a stage
correction takes out exactly what an item counted."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from services.accountability.bulk import bulk_insert
from services.accountability.models import (
    FeedbackItem,
    ThemeHour,
    ThemeItem,
    ThemeProgress,
    columns,
)
from services.accountability.theme_figures import FIGURES, Sums
from services.accountability.theme_phrases import PIN, item_themes
from shared.journey import JourneyMap
from shared.models import Kind

HOUR = timedelta(hours=1)
ALL = "*"  # the theme that is every item of a stage; also the snapshot "stage" of the journey's drivers
SEEN = "-"  # the membership a journey event gets: counted in no theme, but marked as read by the job
LOOKBACK = timedelta(hours=1)  # each run looks this far behind its watermark for items it has not counted
BATCH = 500  # items per transaction: its writes hold SQLite's lock ~75 ms (2,000: ~0.3 s, the store waited)
LEAVE = "leave"  # the stage whose later reach counts as "the customer left"
_ITEMS = ThemeItem.__table__  # type: ignore[attr-defined]
_HOURS = ThemeHour.__table__  # type: ignore[attr-defined]
PROGRESS = ThemeProgress.__table__  # type: ignore[attr-defined]
JOB = "feedback"
_T = TypeVar("_T")


class Runner(Protocol):
    """Where the job's reading and CPU work runs (its writes run in the caller's thread), and what it does after
    each write: `inline` (nothing), or theme_process's runner (a thread of lower priority, and a pause after each
    write so that the job holds SQLite's lock for a bounded share of the time), so that a busy machine stores the
    stream first."""

    def __call__(self, work: Callable[[], _T]) -> _T: ...

    def wrote(self, held: float) -> None:
        """A write held the database's lock `held` seconds (its transaction is committed)."""


class _Inline:
    def __call__(self, work: Callable[[], _T]) -> _T:
        return work()

    def wrote(self, held: float) -> None:
        pass


inline: Runner = _Inline()


def aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def floor_hour(when: datetime) -> datetime:
    return aware(when).replace(minute=0, second=0, microsecond=0)


def hour_of(occurred_at: datetime) -> datetime:
    """The key of the hour bucket holding an item: the end of its hour ((key - 1 h, key])."""
    floor = floor_hour(occurred_at)
    return floor if floor == aware(occurred_at) else floor + HOUR


def _add_hours(session: Session, rows: Iterable[Mapping[str, Any]], sign: int) -> None:
    totals: dict[tuple[str, str, datetime], list[float]] = {}
    for row in rows:
        if row["theme"] == SEEN:
            continue
        nps, csat = row["nps"], row["csat"]
        figures = (
            1,
            row["negative"],
            nps is not None,
            nps is not None and nps >= 9,
            nps is not None and nps <= 6,
            csat or 0,
            csat is not None,
        )
        key = (row["stage"], row["theme"], aware(row["hour"]))
        total = totals.setdefault(key, [0.0] * len(FIGURES))
        for i, v in enumerate(figures):
            total[i] += sign * v
    buckets = [
        {
            "stage": s,
            "theme": t,
            "hour": h,
            **{n: (v if n == "csat_sum" else int(v)) for n, v in zip(FIGURES, tot, strict=True)},
        }
        for (s, t, h), tot in sorted(totals.items())
    ]
    for i in range(0, len(buckets), 2000):
        bulk_insert(
            session=session,
            table=_HOURS,
            rows=buckets[i : i + 2000],
            conflict=["stage", "theme", "hour"],
            increment=list(FIGURES),
        )


def forget_items(*, session: Session, item_ids: Sequence[str]) -> int:
    """Take items out of every theme (erasure, or before counting them again); returns the memberships removed."""
    removed = 0
    for i in range(0, len(item_ids), 500):
        chunk = list(item_ids[i : i + 500])
        rows = [dict(r) for r in session.execute(select(_ITEMS).where(_ITEMS.c.item_id.in_(chunk))).mappings()]
        if rows:
            _add_hours(session, rows, sign=-1)
            session.execute(delete(_ITEMS).where(_ITEMS.c.item_id.in_(chunk)))
            removed += len(rows)
    return removed


def membership(journey: JourneyMap, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Which themes each feedback row is in, with the figures it counts there: the CPU of counting, no database."""
    members: list[dict[str, Any]] = []
    for row in rows:
        base = {
            "item_id": row["id"],
            "stage": row["stage"],
            "hour": hour_of(row["occurred_at"]),
            "occurred_at": aware(row["occurred_at"]),
            "negative": int(row["sentiment_label"] == "negative"),
            "nps": row["nps"],
            "csat": row["csat"],
        }
        if row["kind"] == Kind.journey_event.value:  # not feedback: in no theme
            members.append({**base, "theme": SEEN})
            continue
        for theme in dict.fromkeys([ALL, *item_themes(row["text"], journey.stage(row["stage"]))]):
            members.append({**base, "theme": theme})
    return members


def count_items(
    *,
    session: Session,
    journey: JourneyMap,
    rows: Sequence[Mapping[str, Any]],
    members: Sequence[dict[str, Any]] | None = None,
) -> int:
    """(Re)count feedback rows into their stage's themes: whatever they counted before is taken out first, so
    counting an item again gives the same figures. `members`: their `membership`, when already worked out."""
    members = membership(journey, rows) if members is None else members
    forget_items(session=session, item_ids=[r["id"] for r in rows])
    for i in range(0, len(members), 2000):
        bulk_insert(session=session, table=_ITEMS, rows=list(members[i : i + 2000]), conflict=["item_id", "theme"])
    _add_hours(session, members, sign=1)
    return len(members)


def reset(*, session: Session) -> None:
    """Forget every theme count and the job's progress: its next runs count every stored item again (after a
    change of the phrase rules, or to take in revised items; the snapshots stay until then)."""
    session.execute(delete(_ITEMS))
    session.execute(delete(_HOURS))
    session.execute(delete(PROGRESS))


_MARKS = ("stored_at", "item_id", "corrected_at", "corrected_id")
_READ = ("id", "stage", "kind", "text", "nps", "csat", "sentiment_label", "occurred_at", "stored_at", "corrected_at")
Rows = list[dict[str, Any]]


def claim_progress(session: Session, now: datetime) -> dict[str, Any]:
    """The job's watermark, locked until the transaction ends (a second job, in another process, waits for it)."""
    bulk_insert(
        session=session,
        table=PROGRESS,
        rows=[{"name": JOB, **dict.fromkeys(_MARKS), "updated_at": now}],
        conflict=["name"],
    )
    session.execute(update(PROGRESS).where(PROGRESS.c.name == JOB).values(updated_at=now))
    return dict(session.execute(select(PROGRESS).where(PROGRESS.c.name == JOB)).mappings().one())


def read_progress(session: Session) -> dict[str, Any]:
    """The job's watermark as last committed, without locking it (before the job's first run: nothing read yet)."""
    row = session.execute(select(PROGRESS).where(PROGRESS.c.name == JOB)).mappings().first()
    return dict(row) if row is not None else {"name": JOB, **dict.fromkeys(_MARKS)}


def counted_batch(
    session: Session,
    journey: JourneyMap,
    now: datetime,
    read: Callable[[dict[str, Any]], Rows],
    moved: Callable[[Rows], dict[str, Any]],
    compute: Runner = inline,
) -> int | None:
    """One batch of the job in its own transaction, holding the write lock only to write: the rows `read` finds
    after the committed watermark are read and their themes worked out first (no lock: on SQLite a write
    transaction locks the whole database, and the service's store must not wait behind the job's reading and
    CPU); then, under the job's lock, they are counted and the watermark takes `moved(rows)`, and it commits.
    Returns the rows counted; None (nothing written) when another job moved the watermark in between."""
    seen = read_progress(session)
    rows, members = compute(lambda: _placed(journey, read(seen)))
    if not rows:
        session.commit()  # ends the read (PostgreSQL opened a transaction for it)
        return 0
    claimed = claim_progress(session, now)
    locked = time.perf_counter()  # the claim's write took the lock (on SQLite, of the whole database)
    if any(claimed[mark] != seen[mark] for mark in _MARKS):
        session.commit()  # releases the lock; the claim wrote only the job's `updated_at`
        return None
    count_items(session=session, journey=journey, rows=rows, members=members)
    session.execute(update(PROGRESS).where(PROGRESS.c.name == JOB).values(**moved(rows), updated_at=now))
    session.commit()
    compute.wrote(time.perf_counter() - locked)
    return len(rows)


def _placed(journey: JourneyMap, rows: Rows) -> tuple[Rows, list[dict[str, Any]]]:
    return rows, membership(journey, rows) if rows else []


def count_new(
    session: Session, journey: JourneyMap, now: datetime, until: datetime, max_batches: int, compute: Runner = inline
) -> int:
    """Count the items stored since the watermark, up to `until`, `max_batches` batches at most, each committed
    on its own; then the stragglers behind the watermark."""
    counted = 0
    for _ in range(max_batches):
        done = counted_batch(session, journey, now, lambda seen: new_rows(session, seen, until), _stored_mark, compute)
        counted += done or 0
        if done is not None and done < BATCH:
            break
    stragglers = counted_batch(session, journey, now, lambda seen: straggler_rows(session, seen), _no_mark, compute)
    return counted + (stragglers or 0)


def _no_mark(rows: Rows) -> dict[str, Any]:
    return {}  # stragglers are behind the watermark: it stays


def _stored_mark(rows: Rows) -> dict[str, Any]:
    return {"stored_at": rows[-1]["stored_at"], "item_id": rows[-1]["id"]}


def _corrected_mark(rows: Rows) -> dict[str, Any]:
    return {"corrected_at": rows[-1]["corrected_at"], "corrected_id": rows[-1]["id"]}


def new_rows(session: Session, progress: Mapping[str, Any], until: datetime) -> Rows:
    """The next batch of items stored after the watermark, up to `until`, in the order the watermark moves."""
    f = columns(FeedbackItem)
    query = select(*[f[c] for c in _READ]).where(f.stored_at <= until)
    if progress["stored_at"] is not None:
        mark = aware(progress["stored_at"])
        query = query.where(f.stored_at >= mark, _after(f.stored_at, f.id, mark, progress["item_id"]))
    return [dict(r) for r in session.execute(query.order_by(f.stored_at, f.id).limit(BATCH)).mappings()]


def _after(when: Any, key: Any, mark: datetime, last: str) -> ColumnElement[bool]:
    """Rows after (mark, last) in (when, key) order. The caller also bounds `when >= mark`: with that range
    first, SQLite reads the index from the watermark in order and stops at the batch's end; with this OR alone
    it read every row after the watermark and sorted them for each batch (0.18 s a batch with 580,000 left)."""
    return or_(when > mark, and_(when == mark, key > last))


def straggler_rows(session: Session, progress: Mapping[str, Any]) -> Rows:
    """Items stored up to `LOOKBACK` before the watermark that it passed without counting them: a batch whose
    transaction committed after a later one had been read (its `stored_at` is when it began)."""
    if progress["stored_at"] is None:
        return []
    mark = aware(progress["stored_at"])
    f, t = columns(FeedbackItem), _ITEMS.c
    counted_already = and_(t.item_id == f.id, t.theme.in_([ALL, SEEN]))
    query = (
        select(*[f[c] for c in _READ])
        .select_from(FeedbackItem.__table__.outerjoin(_ITEMS, counted_already))  # type: ignore[attr-defined]
        .where(f.stored_at > mark - LOOKBACK, f.stored_at <= mark, t.item_id.is_(None))
        .limit(BATCH)
    )
    return [dict(r) for r in session.execute(query).mappings()]


def recount_corrected(
    session: Session, journey: JourneyMap, now: datetime, until: datetime, compute: Runner = inline
) -> int:
    """Items whose stage an operator corrected since the last run move to their new stage's themes (one batch)."""

    def read(seen: dict[str, Any]) -> Rows:
        return corrected_rows(session, seen, until)

    return counted_batch(session, journey, now, read, _corrected_mark, compute) or 0


def corrected_rows(session: Session, progress: Mapping[str, Any], until: datetime) -> Rows:
    """The next batch of items corrected after the corrections' watermark, up to `until`."""
    f = columns(FeedbackItem)
    query = select(*[f[c] for c in _READ]).where(f.corrected_at.is_not(None), f.corrected_at <= until)
    if progress["corrected_at"] is not None:
        mark = aware(progress["corrected_at"])
        query = query.where(f.corrected_at >= mark, _after(f.corrected_at, f.id, mark, progress["corrected_id"]))
    return [dict(r) for r in session.execute(query.order_by(f.corrected_at, f.id).limit(BATCH)).mappings()]


def read_theme_sums(
    session: Session, start: datetime, end: datetime, *, themes: Iterable[str] | None = None, min_volume: int = 0
) -> dict[tuple[str, str], Sums]:
    """Per (stage, theme): the figures of the hours after `start` up to `end` (both hour keys)."""
    h = _HOURS.c
    query = (
        select(h.stage, h.theme, *[func.sum(h[name]) for name in FIGURES])
        .where(h.hour > start, h.hour <= end)
        .group_by(h.stage, h.theme)
    )
    if themes is not None:
        query = query.where(h.theme.in_(list(themes)))
    if min_volume > 0:
        query = query.having(or_(func.sum(h.volume) >= min_volume, h.theme == ALL, h.theme.like(f"{PIN}%")))
    out = {}
    for row in session.execute(query):
        sums = {name: float(v or 0) for name, v in zip(FIGURES, row[2:], strict=True)}
        if sums["volume"] > 0:
            out[(row[0], row[1])] = sums
    return out


def window_bounds(now: datetime, span: timedelta) -> tuple[datetime, datetime]:
    """(start, end) hour keys of the window ending now: the start moves back to its hour."""
    return floor_hour(now - span), hour_of(now)
