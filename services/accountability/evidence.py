"""An alert's evidence: which items are behind it, and a summary of them that travels with every notification.

A window alert (negative share, volume spike, ...) is about the items of its stage in the rule's window, ending at
the alert's last evaluation; an item alert (a critical item, a moment of truth) is about the items that triggered
it. Either way the alert records what it is about in `details` (`window_start`/`window_end`, or `evidence_ids`),
so `GET /v1/alerts/{id}/evidence` lists the same items later, whatever arrived since.

The summary (counts by source and channel, top terms, up to five representative items) is computed when the alert
opens and when it reopens; and at most once per `REFRESH_EVERY` of the clock while the alert keeps firing: an
item alert's on its next update (a handful of items) and when an update is announced, a window alert's by
`refresh_due`, which the alert evaluator runs outside the consumer's transactions. A window's summary counts the whole window (at
2,000 events/s, tens of thousands of items: up to a second for four alerts), and inside the consumer's batch it
held the store's write lock every minute, stalling every stored item behind it (docs/performance.md). The work is
bounded either way: one count by source and channel, read from an index alone, and the window's newest
`MAX_TEXTS` items, read in the index's order, which give both the top terms (at most `MAX_TEXT_CHARS` characters of
each text) and the examples (the most severe, then most negative, of them). Choosing the examples among every
item of the window sorted the whole window: with the count, 0.3 s of CPU per alert at 94,000 items of a stage in
its hour, growing with the window (docs/performance.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from services.accountability.models import Alert, FeedbackItem, columns
from services.accountability.rules import OPEN_STATUSES
from services.accountability.scorecard import parse_duration
from services.accountability.search import Clause
from shared.journey import ALERT_PARAMS, JourneyMap
from shared.models import Kind

# Rule kinds whose evidence is the items that triggered them; every other kind is about a time window.
ITEM_KINDS = frozenset({"critical_item", "moment_of_truth"})
MAX_EVIDENCE_IDS = 50  # triggering items kept per item alert (the newest)
MAX_TEXTS = 2_000  # newest items read for the top terms and the examples
MAX_TEXT_CHARS = 1_000  # of each text
TOP_TERMS = 10
EXAMPLES = 5
EXAMPLE_CHARS = 200
MAX_GROUPS = 20  # sources / channels listed by name; the rest are summed as "(other)"
REFRESH_EVERY = timedelta(minutes=1)
_SEVERITY_RANK = {"critical": 3, "high": 2, "normal": 1, "low": 0}
_F = columns(FeedbackItem)
_WORD = re.compile(r"\w+", re.UNICODE)
# Short, common words of the journey map's languages that say nothing about what went wrong.
STOPWORDS = frozenset(
    """
    a about above after again all also am an and any are aren as at be because been before being below between both
    but by can cannot could did didn do does doesn doing don down during each even ever every few for from further
    get got had has hasn have haven having he her here hers him his how i if in into is isn it its itself just let
    me more most my no nor not now of off on once only or other our ours out over own please same she should so
    some still such than thank thanks that the their theirs them then there these they this those through to too
    under until up us very was wasn we were weren what when where which while who whom why will with won would you
    your yours yet im ive dont cant wont really much many one two get got also
    der die das und ist nicht ein eine mit von zu den dem des auf für ich sie wir es im
    le la les et est pas un une des du de en que qui pour avec sur je il nous vous
    el los las y es no un una del de en que por para con se lo
    het een en van niet op te dat die voor met zijn ik je
    """.split()
)


def is_window_kind(kind: str) -> bool:
    return kind not in ITEM_KINDS


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """A time recorded in `details` (ISO 8601, with its zone), or None if it is missing or not one."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def rule_window(kind: str, rule_params: dict[str, Any]) -> timedelta:
    """The window a rule judges: its `window` parameter, else that kind's default (1h when it has none)."""
    value = rule_params.get("window")
    if not isinstance(value, str | int | float):
        model = ALERT_PARAMS.get(kind)
        field = model.model_fields.get("window") if model is not None else None
        value = field.default if field is not None and isinstance(field.default, str | int | float) else "1h"
    return parse_duration(value)


def window_bounds(kind: str, rule_params: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    """The rule's window ending now: (now - window, now]."""
    return now - rule_window(kind, rule_params), now


def merged_ids(before: Any, new: Sequence[str]) -> list[str]:
    """The item ids recorded so far plus the new ones, each once, the newest `MAX_EVIDENCE_IDS`."""
    known = [i for i in before if isinstance(i, str)] if isinstance(before, list) else []
    return list(dict.fromkeys([*known, *new]))[-MAX_EVIDENCE_IDS:]


def scope(alert: Alert) -> tuple[datetime | None, datetime | None, list[str] | None]:
    """(window_start, window_end, item ids) the alert's evidence is about; ids is None for a window alert."""
    details = alert.details or {}
    if not is_window_kind(alert.rule_kind):
        ids = details.get("evidence_ids")
        if not isinstance(ids, list):  # an alert from before evidence was recorded
            last = details.get("last_feedback_id")
            ids = [last] if isinstance(last, str) else []
        return None, None, [i for i in ids if isinstance(i, str)][:MAX_EVIDENCE_IDS]
    start, end = parse_time(details.get("window_start")), parse_time(details.get("window_end"))
    if start is None or end is None or start >= end:  # from before: the default window at the last sighting
        end = alert.last_seen_at
        start = end - timedelta(hours=1)
    return start, end, None


def items(stage: str, ids: list[str] | None) -> list[ColumnElement[bool]]:
    """Which items are behind an alert, beside its window's time bounds: a window alert's are its stage's feedback
    (`ids` None); an item alert's are the ones that triggered it, whatever their stage and kind (a moment of truth
    belongs to its moment's stage: a third contact about a bill is `get_help`'s, and a 100th order is a journey
    event). The summary, the evidence endpoint, the board and the follow-ups all read them through this."""
    if ids is None:
        return [_F.stage == stage, _F.kind != Kind.journey_event.value]
    return [_F.id.in_(ids) if ids else _F.id.is_(None)]


def clauses(alert: Alert) -> list[Clause]:
    """WHERE clauses for the items behind the alert, beside `FeedbackQuery(since=..., until=...)` of its scope."""
    return list(items(alert.stage, scope(alert)[2]))


def tokens(text: str) -> list[str]:
    """The words of a text worth counting: lower-cased (any script), not stopwords, not numbers, not one letter."""
    out = []
    for word in _WORD.findall(text[:MAX_TEXT_CHARS].casefold()):
        if word.isdigit() or word in STOPWORDS or "_" in word:
            continue
        if len(word) < 3 and word.isascii():
            continue
        out.append(word)
    return out


def top_terms(texts: Iterable[str | None], limit: int = TOP_TERMS) -> list[dict[str, Any]]:
    """The terms in most texts (each text counts a term once), most frequent first, ties alphabetically."""
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(set(tokens(text)))
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    return [{"term": term, "count": n} for term, n in ranked if n > 0]


def shorten(text: str | None, limit: int = EXAMPLE_CHARS) -> str | None:
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _grouped(counts: list[tuple[str, int]]) -> dict[str, int]:
    ranked = sorted(counts, key=lambda kv: (-kv[1], kv[0]))
    shown = dict(ranked[:MAX_GROUPS])
    rest = sum(n for _, n in ranked[MAX_GROUPS:])
    if rest:
        shown["(other)"] = shown.get("(other)", 0) + rest
    return shown


def summarize(
    *, session: Session, stage: str, start: datetime | None, end: datetime | None, ids: list[str] | None
) -> dict[str, Any]:
    """The evidence summary of a stage's feedback in (start, end], or of the given items (`items`)."""
    where = items(stage, ids)
    if start is not None:
        where.append(_F.occurred_at > start)
    if end is not None:
        where.append(_F.occurred_at <= end)
    match = and_(*where)
    groups = session.execute(  # an index-only read of ix_acct_feedback_stage_occurred (migration 0014)
        select(_F.source, _F.channel, func.count()).where(match).group_by(_F.source, _F.channel)
    ).all()
    by_source: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    for source, channel, n in groups:
        by_source[source] += int(n)
        by_channel[channel] += int(n)
    newest = session.execute(
        select(_F.id, _F.text, _F.channel, _F.source, _F.severity, _F.sentiment_label, _F.sentiment_score,
               _F.occurred_at)
        .where(match)
        .order_by(_F.occurred_at.desc(), _F.id.desc())
        .limit(MAX_TEXTS)
    ).all()  # fmt: skip
    # The most severe, then most negative, then newest: a stable sort keeps the newest first among equals.
    examples = sorted(newest, key=lambda row: (-_SEVERITY_RANK.get(row.severity, 0), row.sentiment_score))[:EXAMPLES]
    summary: dict[str, Any] = {
        "total": sum(by_source.values()),
        "by_source": _grouped(list(by_source.items())),
        "by_channel": _grouped(list(by_channel.items())),
        "top_terms": top_terms(row.text for row in newest),
        "examples": [
            {
                "id": row.id,
                "text": shorten(row.text),
                "channel": row.channel,
                "source": row.source,
                "severity": row.severity,
                "sentiment": row.sentiment_label,
                "occurred_at": _iso(row.occurred_at),
            }
            for row in examples
        ],
    }
    if start is not None and end is not None:
        summary["window_start"], summary["window_end"] = _iso(start), _iso(end)
    return summary


def record(
    *,
    session: Session,
    alert: Alert,
    rule_params: dict[str, Any],
    now: datetime,
    item_ids: Sequence[str] = (),
    force: bool = False,
    announced: bool = False,
) -> None:
    """Record what the alert is about now and, when due, its evidence summary in `details`: with `force` (the
    alert opens or reopens); for an item alert also when the update is `announced` or `REFRESH_EVERY` since the
    last time. A window alert's is otherwise `refresh_due`'s to refresh: reading its window here held the store's
    write lock (1.1 s of CPU for one batch at 1,000 events/s), so its announcement carries the last summary (its
    `computed_at` says when). Items (`item_ids`) accumulate for an item alert; a window alert's window moves with
    the summary, so the list and the summary always describe the same items."""
    details = dict(alert.details or {})
    window = is_window_kind(alert.rule_kind)
    if not window:
        details["evidence_ids"] = merged_ids(details.get("evidence_ids"), item_ids)
    if not force and (window or not (announced or _due(_computed_at(details), now))):
        alert.details = details
        return
    alert.details = {**details, **_summary(session, alert, details, rule_params, now)}


def _due(computed: datetime | None, now: datetime) -> bool:
    """Whether a summary computed at `computed` (None: never) is old enough to compute again."""
    return computed is None or now - computed >= REFRESH_EVERY


def _summary(
    session: Session, alert: Alert, details: dict[str, Any], rule_params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The keys of `details` a fresh summary sets: the evidence, and a window alert's window."""
    if not is_window_kind(alert.rule_kind):
        summary = summarize(session=session, stage=alert.stage, start=None, end=None, ids=details["evidence_ids"])
        return {"evidence": {**summary, "computed_at": _iso(now)}}
    start, end = window_bounds(alert.rule_kind, rule_params, now)
    summary = summarize(session=session, stage=alert.stage, start=start, end=end, ids=None)
    return {"window_start": _iso(start), "window_end": _iso(end), "evidence": {**summary, "computed_at": _iso(now)}}


def _computed_at(details: dict[str, Any]) -> datetime | None:
    return parse_time((details.get("evidence") or {}).get("computed_at"))


def refresh_due(*, engine: Engine, journey: JourneyMap, now: datetime) -> int:
    """Refresh the summary of every open window alert that fired since its summary was computed, once that is
    `REFRESH_EVERY` old; returns how many. The summaries are read first, in a transaction that writes nothing (on
    SQLite a write transaction locks the whole database: the consumer must not wait for these reads); then they
    are written in one short transaction that takes each alert as it is by then (what the consumer changed
    meanwhile stays) and skips an alert whose summary someone else refreshed, or that closed, in between."""
    rules = {r.id: r for r in journey.alert_rules}
    fresh: dict[str, tuple[datetime | None, dict[str, Any]]] = {}
    with Session(engine) as session:
        query = select(Alert).where(columns(Alert).status.in_(OPEN_STATUSES))
        for alert in session.execute(query).scalars():
            details, rule = alert.details or {}, rules.get(alert.rule_id)
            computed = _computed_at(details)
            fired = computed is None or alert.last_seen_at > computed
            if rule is not None and is_window_kind(alert.rule_kind) and fired and _due(computed, now):
                fresh[alert.id] = (computed, _summary(session, alert, details, rule.params, now))
    if not fresh:
        return 0
    written = 0
    with Session(engine) as session:
        # Write first: the write lock (a row lock on PostgreSQL) is taken before the alerts are read back.
        session.execute(update(Alert).where(columns(Alert).id.in_(list(fresh))).values(version=columns(Alert).version))
        for alert in session.execute(select(Alert).where(columns(Alert).id.in_(list(fresh)))).scalars():
            computed, keys = fresh[alert.id]
            details = alert.details or {}
            if alert.status in OPEN_STATUSES and _computed_at(details) == computed:
                alert.details = {**details, **keys}
                session.add(alert)
                written += 1
        session.commit()
    return written


def public_details(details: dict[str, Any]) -> dict[str, Any]:
    """`details` without what is shown beside it (the evidence summary, the item ids)."""
    return {k: v for k, v in (details or {}).items() if k not in ("evidence", "evidence_ids")}


def of(alert: Alert) -> dict[str, Any] | None:
    """The alert's recorded evidence summary, if any."""
    found = (alert.details or {}).get("evidence")
    return found if isinstance(found, dict) else None


def forget_items(*, session: Session, item_ids: Sequence[str], text_only: bool = False) -> int:
    """Take items out of every alert's recorded evidence: an erased customer's items leave the examples and the
    trigger ids (`text_only`: expired texts only lose their text). Counts and terms stay. Returns alerts changed."""
    gone = set(item_ids)
    if not gone:
        return 0
    changed = 0
    for alert in session.execute(select(Alert)).scalars():
        details = alert.details or {}
        summary, ids = details.get("evidence"), details.get("evidence_ids")
        examples = summary.get("examples") if isinstance(summary, dict) else None
        hit_examples = isinstance(examples, list) and any(isinstance(e, dict) and e.get("id") in gone for e in examples)
        hit_ids = not text_only and isinstance(ids, list) and any(i in gone for i in ids)
        if not (hit_examples or hit_ids):
            continue
        new = dict(details)
        if hit_examples and isinstance(summary, dict) and isinstance(examples, list):
            if text_only:
                kept = [{**e, "text": None} if isinstance(e, dict) and e.get("id") in gone else e for e in examples]
            else:
                kept = [e for e in examples if not (isinstance(e, dict) and e.get("id") in gone)]
            new["evidence"] = {**summary, "examples": kept}
        if hit_ids and isinstance(ids, list):
            new["evidence_ids"] = [i for i in ids if i not in gone]
        alert.details = new
        session.add(alert)
        changed += 1
    return changed
