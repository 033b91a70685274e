"""Themes within a stage, and the drivers of the journey's scores.

A theme is what customers talk about in a stage: a key phrase found in the items' text ("late delivery"), or a
theme the company pinned in the journey map (`themes:` of a stage, with seed phrases). A periodic job
(`run_job`) does all the work, never a request:

1. It reads the items stored since its watermark (`acct_theme_progress`), finds each item's themes, and counts the
   item into `acct_theme_hours` (additive figures per stage, theme and hour) and `acct_theme_items` (which item is
   in which theme, with the figures it counted, so an erasure or a stage correction takes exactly those out).
   Theme `*` is every feedback item of the stage: the stage's own figures at the same granularity.
2. For each window it ranks every stage's themes and writes a snapshot (`acct_theme_snapshots`): volume, negative
   share, trend against the previous window, example item ids, and the theme's impact on the stage's NPS, CSAT and
   leave rate. Impact, as Thematic defines it: the score of all answers minus the score without the theme's items.
   Stage `*` holds the journey's drivers: stages and themes by their impact on the overall figures.
3. It applies `emerging_theme` alert rules: a theme new in the window, or grown `growth` times, with enough volume.

The endpoints read the snapshots; example texts are read live by item id, so an erased item or expired text never
shows from a snapshot.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlmodel import Session

from services.accountability.alerts import raise_alert
from services.accountability.bulk import bulk_insert
from services.accountability.models import (
    Alert,
    FeedbackItem,
    ThemeHour,
    ThemeItem,
    ThemeProgress,
    ThemeSnapshot,
    columns,
)
from services.accountability.outbox import enqueue_transition
from services.accountability.scorecard import WINDOWS, StageNumbers, health_colour, parse_duration
from services.accountability.transitions import Transition, open_key
from shared.journey import UNASSIGNED, AlertRule, HealthThresholds, JourneyMap, Stage
from shared.models import Kind

HOUR = timedelta(hours=1)
ALL = "*"  # the theme that is every item of a stage; also the snapshot "stage" of the journey's drivers
SEEN = "-"  # the membership a journey event gets: counted in no theme, but marked as read by the job
LOOKBACK = timedelta(hours=1)  # each run looks this far behind its watermark for items it has not counted
PIN = "pin:"  # pinned themes are keyed by the id the map gives them: their identity over time
LEAVE = "leave"  # the stage whose later reach counts as "the customer left"
MAX_BIGRAMS = 6
MAX_UNIGRAMS = 6
MAX_PHRASE_CHARS = 60
MIN_SUPPORT = 3  # a discovered phrase needs this many items in a window to be listed
TOP = 25  # discovered themes kept per stage and window (pinned themes are always kept)
EXAMPLES = 3
COVER = 0.8  # a word mostly said as part of a listed two-word phrase is not listed again on its own
BATCH = 2000
FIGURES = ("volume", "negative", "nps_n", "promoters", "detractors", "csat_sum", "csat_n")
_ITEMS = ThemeItem.__table__  # type: ignore[attr-defined]
_HOURS = ThemeHour.__table__  # type: ignore[attr-defined]
_PROGRESS = ThemeProgress.__table__  # type: ignore[attr-defined]
_JOB = "feedback"

_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing done down during each even ever every few for from further get gets
    getting got had has have having he her here hers him his how i if in into is it its itself just let like made
    make me more most much my myself no nor not now of off on once one only or other our ours out over own please
    really same say said she should so some still such than thank thanks that the their theirs them then there
    these they this those through to too two under until up us very via was way we were what when where which while
    who whom why will with would yet you your yours hi hello dear etc ok okay im ive id ill dont cant wont didnt
    doesnt isnt wasnt arent havent hasnt couldnt wouldnt shouldnt i'm i've i'd i'll you're you've it's that's
    there's can't won't don't didn't doesn't isn't wasn't aren't haven't hasn't couldn't wouldn't shouldn't
    """.split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"|/\n\r\t\u3001\u3002\uff0c\uff01\uff1f]+|\s[-\u2013\u2014]+\s")

Sums = dict[str, float]


# -- phrases --------------------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    """Lower-case words of any script (letters only: numbers, order ids and punctuation are not words)."""
    norm = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return _WORD.findall(norm)


def _content(word: str) -> bool:
    return len(word) >= 2 and word not in _STOPWORDS


def key_phrases(text: str) -> list[str]:
    """The item's key phrases: two adjacent content words first (they read as a theme: "late delivery"), then
    single content words of three letters or more; each at most once, bounded in number and length."""
    bigrams: list[str] = []
    unigrams: list[str] = []
    for clause in _CLAUSE.split(text):  # two words either side of a comma or full stop are not a phrase
        words = tokens(clause)
        for i, word in enumerate(words):
            if not _content(word):
                continue
            if len(word) >= 3:
                unigrams.append(word)
            if i + 1 < len(words) and _content(words[i + 1]) and words[i + 1] != word:
                bigrams.append(f"{word} {words[i + 1]}")
    fit = [p for p in dict.fromkeys(bigrams) if len(p) <= MAX_PHRASE_CHARS][:MAX_BIGRAMS]
    return fit + [p for p in dict.fromkeys(unigrams) if len(p) <= MAX_PHRASE_CHARS][:MAX_UNIGRAMS]


def _phrase(text: str) -> str:
    return " ".join(tokens(text))


def _within(part: str, whole: str) -> bool:
    """`part` occurs in `whole` on word boundaries (both normalised)."""
    return bool(part) and f" {part} " in f" {whole} "


def pinned_of(text: str, stage: Stage | None) -> list[str]:
    """The keys of the stage's pinned themes whose seed phrases the text contains."""
    if stage is None or not stage.themes:
        return []
    said = _phrase(text)
    return [f"{PIN}{t.id}" for t in stage.themes if any(_within(_phrase(seed), said) for seed in t.phrases)]


def item_themes(text: str | None, stage: Stage | None) -> list[str]:
    """Every theme key of one item: its pinned themes, then its key phrases."""
    if not text:
        return []
    return [*pinned_of(text, stage), *key_phrases(text)]


def merge_phrases(volumes: Mapping[str, float], seeds: Sequence[str] = (), top: int = TOP) -> list[str]:
    """Discovered phrases worth listing, most frequent first: none that overlaps a pinned theme's seed phrase, and
    no single word that is mostly said as part of a listed two-word phrase ("delivery" under "late delivery")."""
    norm_seeds = [_phrase(s) for s in seeds]
    kept = [k for k in volumes if not any(_within(k, s) or _within(s, k) for s in norm_seeds)]
    ordered = sorted(kept, key=lambda k: (-volumes[k], -k.count(" "), k))
    bigrams = [k for k in ordered if " " in k]
    out = []
    for key in ordered:
        if " " not in key:
            covered = sum(volumes[b] for b in bigrams if key in b.split(" "))
            if covered >= COVER * volumes[key]:
                continue
        out.append(key)
    return out[:top]


# -- arithmetic -----------------------------------------------------------------------------------------------


def empty() -> Sums:
    return dict.fromkeys(FIGURES, 0.0)


def minus(total: Mapping[str, float], part: Mapping[str, float]) -> Sums:
    return {k: total.get(k, 0) - part.get(k, 0) for k in FIGURES}


def plus(total: Mapping[str, float], part: Mapping[str, float]) -> Sums:
    return {k: total.get(k, 0) + part.get(k, 0) for k in FIGURES}


def nps_of(sums: Mapping[str, float]) -> float | None:
    n = sums.get("nps_n", 0)
    return 100.0 * (sums["promoters"] - sums["detractors"]) / n if n > 0 else None


def csat_of(sums: Mapping[str, float]) -> float | None:
    n = sums.get("csat_n", 0)
    return sums["csat_sum"] / n if n > 0 else None


def negative_share_of(sums: Mapping[str, float]) -> float | None:
    v = sums.get("volume", 0)
    return sums["negative"] / v if v > 0 else None


def impact(total: Mapping[str, float], part: Mapping[str, float], metric: str) -> float | None:
    """Score of all answers minus score without `part`'s answers (None when either has no answers)."""
    score = nps_of if metric == "nps" else csat_of
    whole, rest = score(total), score(minus(total, part))
    return None if whole is None or rest is None else round(whole - rest, 2)


class Leavers:
    """A population of customers, each with the time first seen, and which of them reached `leave` after that."""

    def __init__(self, first_seen: Mapping[str, datetime], left_at: Mapping[str, datetime]) -> None:
        self.members = set(first_seen)
        self.left = {c for c, t in first_seen.items() if c in left_at and left_at[c] > t}

    @property
    def share(self) -> float | None:
        return len(self.left) / len(self.members) if self.members else None

    def impact(self, without: Iterable[str]) -> float | None:
        """Leave share of everyone minus the share without the given customers (positive: they leave more)."""
        drop = self.members.intersection(without)
        rest = len(self.members) - len(drop)
        if not self.members or rest <= 0:
            return None
        return round(len(self.left) / len(self.members) - len(self.left - drop) / rest, 4)


def leave_share(first_seen: Mapping[str, datetime], left_at: Mapping[str, datetime]) -> float | None:
    """Of these customers (each with the time first seen), the share that reached `leave` after that time."""
    return Leavers(first_seen, left_at).share


def leave_impact(
    first_seen: Mapping[str, datetime], left_at: Mapping[str, datetime], without: Iterable[str]
) -> float | None:
    """Leave share of all these customers minus the share without the given ones (positive: they leave more)."""
    return Leavers(first_seen, left_at).impact(without)


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# -- hours ----------------------------------------------------------------------------------------------------


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def floor_hour(when: datetime) -> datetime:
    return _aware(when).replace(minute=0, second=0, microsecond=0)


def hour_of(occurred_at: datetime) -> datetime:
    """The key of the hour bucket holding an item: the end of its hour ((key - 1 h, key])."""
    floor = floor_hour(occurred_at)
    return floor if floor == _aware(occurred_at) else floor + HOUR


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
        key = (row["stage"], row["theme"], _aware(row["hour"]))
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


def count_items(*, session: Session, journey: JourneyMap, rows: Sequence[Mapping[str, Any]]) -> int:
    """(Re)count feedback rows into their stage's themes: whatever they counted before is taken out first."""
    forget_items(session=session, item_ids=[r["id"] for r in rows])
    members: list[dict[str, Any]] = []
    for row in rows:
        base = {
            "item_id": row["id"],
            "stage": row["stage"],
            "hour": hour_of(row["occurred_at"]),
            "occurred_at": _aware(row["occurred_at"]),
            "negative": int(row["sentiment_label"] == "negative"),
            "nps": row["nps"],
            "csat": row["csat"],
        }
        if row["kind"] == Kind.journey_event.value:  # not feedback: in no theme
            members.append({**base, "theme": SEEN})
            continue
        for theme in dict.fromkeys([ALL, *item_themes(row["text"], journey.stage(row["stage"]))]):
            members.append({**base, "theme": theme})
    for i in range(0, len(members), 2000):
        bulk_insert(session=session, table=_ITEMS, rows=members[i : i + 2000], conflict=["item_id", "theme"])
    _add_hours(session, members, sign=1)
    return len(members)


def reset(*, session: Session) -> None:
    """Forget every theme count and the job's progress: its next runs count every stored item again (after a
    change of the phrase rules, or to take in revised items; the snapshots stay until then)."""
    session.execute(delete(_ITEMS))
    session.execute(delete(_HOURS))
    session.execute(delete(_PROGRESS))


# -- the job --------------------------------------------------------------------------------------------------


@dataclass
class JobOutcome:
    counted: int = 0  # items counted in this run
    recounted: int = 0  # corrected items moved to their new stage
    snapshots: int = 0
    transitions: list[Transition] = field(default_factory=list)
    outbox_rows: int = 0


def _claim_progress(session: Session, now: datetime) -> dict[str, Any]:
    """The job's watermark, locked for this transaction (a second job, in another process, waits for this one)."""
    bulk_insert(
        session=session,
        table=_PROGRESS,
        rows=[
            {
                "name": _JOB,
                "stored_at": None,
                "item_id": None,
                "corrected_at": None,
                "corrected_id": None,
                "updated_at": now,
            }
        ],
        conflict=["name"],
    )
    session.execute(update(_PROGRESS).where(_PROGRESS.c.name == _JOB).values(updated_at=now))
    return dict(session.execute(select(_PROGRESS).where(_PROGRESS.c.name == _JOB)).mappings().one())


_READ = ("id", "stage", "kind", "text", "nps", "csat", "sentiment_label", "occurred_at", "stored_at", "corrected_at")


def _count_new(
    session: Session, journey: JourneyMap, progress: dict[str, Any], until: datetime, max_batches: int
) -> int:
    f = columns(FeedbackItem)
    counted = 0
    for _ in range(max_batches):
        query = select(*[f[c] for c in _READ]).where(f.stored_at <= until)
        if progress["stored_at"] is not None:
            mark = _aware(progress["stored_at"])
            query = query.where(or_(f.stored_at > mark, and_(f.stored_at == mark, f.id > progress["item_id"])))
        rows = [dict(r) for r in session.execute(query.order_by(f.stored_at, f.id).limit(BATCH)).mappings()]
        if not rows:
            break
        count_items(session=session, journey=journey, rows=rows)
        counted += len(rows)
        progress["stored_at"], progress["item_id"] = rows[-1]["stored_at"], rows[-1]["id"]
        if len(rows) < BATCH:
            break
    if progress["stored_at"] is not None:
        counted += _count_stragglers(session, journey, _aware(progress["stored_at"]))
    return counted


def _count_stragglers(session: Session, journey: JourneyMap, mark: datetime) -> int:
    """Items stored up to `LOOKBACK` before the watermark that it passed without counting them: a batch whose
    transaction committed after a later one had been read (its `stored_at` is when it began)."""
    f, t = columns(FeedbackItem), _ITEMS.c
    counted_already = and_(t.item_id == f.id, t.theme.in_([ALL, SEEN]))
    query = (
        select(*[f[c] for c in _READ])
        .select_from(FeedbackItem.__table__.outerjoin(_ITEMS, counted_already))  # type: ignore[attr-defined]
        .where(f.stored_at > mark - LOOKBACK, f.stored_at <= mark, t.item_id.is_(None))
        .limit(BATCH)
    )
    rows = [dict(r) for r in session.execute(query).mappings()]
    if rows:
        count_items(session=session, journey=journey, rows=rows)
    return len(rows)


def _recount_corrected(session: Session, journey: JourneyMap, progress: dict[str, Any], until: datetime) -> int:
    """Items whose stage an operator corrected since the last run move to their new stage's themes."""
    f = columns(FeedbackItem)
    query = select(*[f[c] for c in _READ]).where(f.corrected_at.is_not(None), f.corrected_at <= until)
    if progress["corrected_at"] is not None:
        mark = _aware(progress["corrected_at"])
        query = query.where(or_(f.corrected_at > mark, and_(f.corrected_at == mark, f.id > progress["corrected_id"])))
    rows = [dict(r) for r in session.execute(query.order_by(f.corrected_at, f.id).limit(BATCH)).mappings()]
    if not rows:
        return 0
    count_items(session=session, journey=journey, rows=rows)
    progress["corrected_at"], progress["corrected_id"] = rows[-1]["corrected_at"], rows[-1]["id"]
    return len(rows)


def _theme_sums(
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


def _window_bounds(now: datetime, span: timedelta) -> tuple[datetime, datetime]:
    """(start, end) hour keys of the window ending now: the start moves back to its hour."""
    return floor_hour(now - span), hour_of(now)


def _left_at(session: Session) -> dict[str, datetime]:
    """Each customer's last item in `leave`."""
    f = columns(FeedbackItem)
    query = (
        select(f.customer_id, func.max(f.occurred_at))
        .where(f.stage == LEAVE, f.customer_id.is_not(None))
        .group_by(f.customer_id)
    )
    return {c: _aware(t) for c, t in session.execute(query)}


def _first_seen(session: Session, start: datetime, now: datetime) -> dict[str, dict[str, datetime]]:
    """Per stage (not `leave`): each customer's first item in the window."""
    f = columns(FeedbackItem)
    query = (
        select(f.stage, f.customer_id, func.min(f.occurred_at))
        .where(f.occurred_at > start, f.occurred_at <= now, f.customer_id.is_not(None), f.stage != LEAVE)
        .group_by(f.stage, f.customer_id)
    )
    out: dict[str, dict[str, datetime]] = defaultdict(dict)
    for stage, customer, first in session.execute(query):
        out[stage][customer] = _aware(first)
    return out


def _theme_members(
    session: Session, stage: str, keys: Sequence[str], start: datetime, now: datetime
) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """For the listed themes of a stage in the window: their customers, and their latest few item ids."""
    if not keys:
        return {}, {}
    t, f = _ITEMS.c, columns(FeedbackItem)
    query = (
        select(t.theme, t.item_id, t.occurred_at, f.customer_id)
        .join_from(_ITEMS, FeedbackItem.__table__, f.id == t.item_id)  # type: ignore[attr-defined]
        .where(t.stage == stage, t.theme.in_(list(keys)), t.occurred_at > start, t.occurred_at <= now)
    )
    customers: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for theme, item_id, occurred_at, customer in session.execute(query):
        if customer is not None:
            customers[theme].add(customer)
        latest[theme].append((_aware(occurred_at), item_id))
    examples = {
        theme: [i for _, i in sorted(found, key=lambda x: (-x[0].timestamp(), x[1]))[:EXAMPLES]]
        for theme, found in latest.items()
    }
    return customers, examples


def _trend(volume: float, previous: float) -> dict[str, Any]:
    if previous <= 0:
        status = "new"
    elif volume >= 1.5 * previous:
        status = "growing"
    elif volume * 1.5 <= previous:
        status = "declining"
    else:
        status = "steady"
    change = round((volume - previous) / previous, 4) if previous > 0 else None
    return {"previous_volume": int(previous), "volume_change": change, "status": status}


def _figures(sums: Mapping[str, float]) -> dict[str, Any]:
    return {
        "volume": int(sums["volume"]),
        "negative_share": _r(negative_share_of(sums), 4),
        "nps": _r(nps_of(sums), 1),
        "nps_answers": int(sums["nps_n"]),
        "csat_mean": _r(csat_of(sums), 4),
        "csat_answers": int(sums["csat_n"]),
    }


def _thresholds(journey: JourneyMap, stage: str) -> HealthThresholds:
    found = journey.stage(stage)
    return found.health if found else HealthThresholds()


def _stage_name(journey: JourneyMap, stage: str) -> str:
    found = journey.stage(stage)
    return found.name if found else "Unassigned (triage)"


def _health(sums: Mapping[str, float], thresholds: HealthThresholds) -> str:
    numbers = StageNumbers(volume=int(sums["volume"]), negative=int(sums["negative"]), csat_mean=_r(csat_of(sums), 4))
    return health_colour(numbers, thresholds)[0]


def snapshot_window(
    *, session: Session, journey: JourneyMap, window: str, now: datetime, left_at: Mapping[str, datetime]
) -> int:
    """Rank every stage's themes for one window and the journey's drivers; write the snapshots. Returns them."""
    span = WINDOWS[window]
    start, end = _window_bounds(now, span)
    current = _theme_sums(session, start, end, min_volume=MIN_SUPPORT)
    first_seen = _first_seen(session, start, now)
    everyone: dict[str, datetime] = {}
    for seen in first_seen.values():
        for customer, first in seen.items():
            everyone[customer] = min(first, everyone.get(customer, first))
    all_pool = Leavers(everyone, left_at)
    overall = empty()
    for (_, theme), sums in current.items():
        if theme == ALL:
            overall = plus(overall, sums)
    per_stage: dict[str, list[tuple[str, str, bool]]] = {}  # stage -> [(key, label, pinned)]
    for stage in journey.stage_ids:
        found = journey.stage(stage)
        pins = [(f"{PIN}{t.id}", t.name, True) for t in (found.themes if found else [])]
        seeds = [s for t in (found.themes if found else []) for s in t.phrases]
        volumes = {
            k: s["volume"] for (st, k), s in current.items() if st == stage and k != ALL and not k.startswith(PIN)
        }
        per_stage[stage] = pins + [(k, k, False) for k in merge_phrases(volumes, seeds)]
    keys = {k for listed in per_stage.values() for k, _, _ in listed}
    previous = _theme_sums(session, start - span, start, themes=[*keys, ALL]) if keys else {}
    drivers: list[dict[str, Any]] = []
    written = 0
    for stage in journey.stage_ids:
        total = current.get((stage, ALL), empty())
        stage_customers = first_seen.get(stage, {})
        pool = Leavers(stage_customers, left_at)
        listed = per_stage[stage]
        customers, examples = _theme_members(session, stage, [k for k, _, _ in listed], start, now)
        themes = []
        for key, label, pinned in listed:
            sums = current.get((stage, key), empty())
            if sums["volume"] <= 0 and not pinned:
                continue
            who = customers.get(key, set())
            themes.append(
                {
                    "key": key,
                    "label": label,
                    "pinned": pinned,
                    **_figures(sums),
                    "trend": _trend(sums["volume"], current_or_empty(previous, stage, key)["volume"]),
                    "impact": {
                        "nps": impact(total, sums, "nps"),
                        "csat": impact(total, sums, "csat"),
                        "leave": None if stage == LEAVE else pool.impact(who),
                    },
                    "examples": examples.get(key, []),
                }
            )
            if sums["volume"] > 0:
                drivers.append(
                    {
                        "kind": "theme",
                        "stage": stage,
                        "stage_name": _stage_name(journey, stage),
                        "theme": key,
                        "label": label,
                        **_driver_numbers(journey, stage, sums, overall, all_pool, who, None),
                    }
                )
        themes.sort(key=lambda t: (-t["volume"], -t["key"].count(" "), t["key"]))
        stage_figures = {
            **_figures(total),
            "leave_share": None if stage == LEAVE else _r(pool.share, 4),
            "customers": len(stage_customers),
        }
        payload = {
            "window": window,
            "start": start.isoformat(),
            "end": now.isoformat(),
            "stage_figures": stage_figures,
            "themes": themes,
        }
        session.merge(ThemeSnapshot(stage=stage, window=window, computed_at=now, payload=payload))
        written += 1
        if total["volume"] > 0:
            drivers.append(
                {
                    "kind": "stage",
                    "stage": stage,
                    "stage_name": _stage_name(journey, stage),
                    "theme": None,
                    "label": _stage_name(journey, stage),
                    **_driver_numbers(journey, stage, total, overall, all_pool, stage_customers, pool),
                }
            )
    journey_payload = {
        "window": window,
        "start": start.isoformat(),
        "end": now.isoformat(),
        "overall": {
            **_figures(overall),
            "leave_share": _r(all_pool.share, 4),
            "customers": len(everyone),
        },
        "rows": drivers,
    }
    session.merge(ThemeSnapshot(stage=ALL, window=window, computed_at=now, payload=journey_payload))
    return written + 1


def current_or_empty(table: Mapping[tuple[str, str], Sums], stage: str, key: str) -> Sums:
    return table.get((stage, key)) or empty()


def _driver_numbers(
    journey: JourneyMap,
    stage: str,
    sums: Mapping[str, float],
    overall: Mapping[str, float],
    everyone: Leavers,
    who: Iterable[str],
    stage_pool: Leavers | None,
) -> dict[str, Any]:
    """A drivers row's target (the stage's health thresholds), actual figures, volume and impact on the overall."""
    thresholds = _thresholds(journey, stage)
    actual = _figures(sums)
    actual["leave_share"] = None if stage_pool is None or stage == LEAVE else _r(stage_pool.share, 4)
    return {
        "target": thresholds.model_dump(),
        "actual": actual,
        "health": _health(sums, thresholds),
        "volume": int(sums["volume"]),
        "impact": {
            "nps": impact(overall, sums, "nps"),
            "csat": impact(overall, sums, "csat"),
            "leave": None if stage == LEAVE else everyone.impact(who),
        },
    }


def _emerging(
    *, session: Session, journey: JourneyMap, rule: AlertRule, now: datetime, cache: dict[timedelta, Any]
) -> list[Transition]:
    """Open (or keep active) the stage's alert when a theme is new or fast-growing with enough volume."""
    params = rule.params
    span = parse_duration(params.get("window", "24h"))
    min_volume, growth = int(params.get("min_volume", 10)), float(params.get("growth", 3.0))
    if span not in cache:
        start, end = _window_bounds(now, span)
        current = _theme_sums(session, start, end, min_volume=min_volume)
        present = {k for _, k in current}
        cache[span] = (current, _theme_sums(session, start - span, start, themes=present) if present else {})
    current, previous = cache[span]
    out = []
    for stage in [rule.stage] if rule.stage else journey.stage_ids:
        found = journey.stage(stage)
        names = {f"{PIN}{t.id}": t.name for t in (found.themes if found else [])}
        seeds = [s for t in (found.themes if found else []) for s in t.phrases]
        rising: dict[str, tuple[int, int]] = {}
        for (st, key), sums in current.items():
            if st != stage or key == ALL or sums["volume"] < min_volume:
                continue
            before = current_or_empty(previous, stage, key)["volume"]
            if before <= 0 or sums["volume"] >= growth * before:
                rising[key] = (int(sums["volume"]), int(before))
        discovered = merge_phrases({k: v for k, (v, _) in rising.items() if k not in names}, seeds)
        keys = sorted([k for k in rising if k in names] + discovered, key=lambda k: (-rising[k][0], -k.count(" "), k))
        if not keys:
            continue
        listed = [
            {"key": k, "label": names.get(k, k), "volume": rising[k][0], "previous_volume": rising[k][1]}
            for k in keys[:5]
        ]
        existing = session.execute(select(Alert).where(columns(Alert).open_key == open_key(stage, rule.id))).scalars()
        alert = existing.first()
        seen = set((alert.details or {}).get("themes_seen", [])) if alert is not None else set()
        if alert is not None and set(keys) <= seen:  # nothing new: the alert stays active
            alert.last_active_at = alert.last_seen_at = now
            alert.details = {**alert.details, "themes": listed}
            session.add(alert)
            continue
        top = listed[0]
        grown = "new" if top["previous_volume"] == 0 else f"{top['previous_volume']} before"
        title = (
            f"Emerging theme on {stage}: '{top['label']}' ({top['volume']} in {params.get('window', '24h')}, {grown})"
        )
        details = {"themes": listed, "themes_seen": sorted(seen | set(keys)), "window": params.get("window", "24h")}
        out.append(
            raise_alert(
                session=session,
                stage=stage,
                rule=rule,
                title=title[:500],
                details=details,
                now=now,
                count=max(len(set(keys) - seen), 1),
            )
        )
    return out


def run_job(
    *,
    session: Session,
    journey: JourneyMap,
    now: datetime,
    alerts_topic: str,
    settle: timedelta = timedelta(0),
    max_batches: int = 50,
    windows: Sequence[str] = tuple(WINDOWS),
) -> JobOutcome:
    """Count newly stored items, re-rank every window, apply `emerging_theme` rules (the caller commits)."""
    outcome = JobOutcome()
    progress = _claim_progress(session, now)
    until = now - settle
    outcome.counted = _count_new(session, journey, progress, until, max_batches)
    outcome.recounted = _recount_corrected(session, journey, progress, until)
    session.execute(
        update(_PROGRESS)
        .where(_PROGRESS.c.name == _JOB)
        .values(
            stored_at=progress["stored_at"],
            item_id=progress["item_id"],
            corrected_at=progress["corrected_at"],
            corrected_id=progress["corrected_id"],
            updated_at=now,
        )
    )
    left_at = _left_at(session) if journey.stage(LEAVE) else {}
    for window in windows:
        outcome.snapshots += snapshot_window(session=session, journey=journey, window=window, now=now, left_at=left_at)
    cache: dict[timedelta, Any] = {}
    for rule in journey.alert_rules:
        if rule.kind == "emerging_theme":
            outcome.transitions += _emerging(session=session, journey=journey, rule=rule, now=now, cache=cache)
    session.flush()
    for change in outcome.transitions:
        if change.publish:
            outcome.outbox_rows += enqueue_transition(
                session=session, transition=change, alerts_topic=alerts_topic, now=now
            )
    return outcome


# -- reading ----------------------------------------------------------------------------------------------------

SORTS = ("volume", "nps_impact", "csat_impact", "leave_impact", "negative_share", "growth")


def _sort_key(sort: str) -> Any:
    def harm(value: float | None, worse_is_lower: bool) -> tuple[int, float]:
        if value is None:
            return (1, 0.0)
        return (0, value if worse_is_lower else -value)

    if sort == "nps_impact":
        return lambda t: harm(t["impact"]["nps"], True)
    if sort == "csat_impact":
        return lambda t: harm(t["impact"]["csat"], True)
    if sort == "leave_impact":
        return lambda t: harm(t["impact"]["leave"], False)
    if sort == "negative_share":
        return lambda t: harm(t["negative_share"], False)
    if sort == "growth":
        return lambda t: (-(t["volume"] - t["trend"]["previous_volume"]), -t["volume"])
    return lambda t: (-t["volume"], -t["key"].count(" "), t["key"])


def _example_texts(session: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    f = columns(FeedbackItem)
    query = select(f.id, f.text, f.occurred_at, f.sentiment_label, f.nps, f.csat).where(f.id.in_(list(ids)))
    return {
        row.id: {
            "id": row.id,
            "text": None if row.text is None else row.text[:280],
            "occurred_at": _aware(row.occurred_at).isoformat(),
            "sentiment": row.sentiment_label,
            "nps": row.nps,
            "csat": row.csat,
        }
        for row in session.execute(query)
    }


def stage_themes(
    *, session: Session, journey: JourneyMap, stage: str, window: str, sort: str = "volume", limit: int = 20
) -> dict[str, Any]:
    """The stage's themes from the last snapshot, sorted, with example texts read now (erased items are gone)."""
    snap = session.get(ThemeSnapshot, (stage, window))
    found = journey.stage(stage)
    base: dict[str, Any] = {
        "stage": stage,
        "name": found.name if found else ("Unassigned (triage)" if stage == UNASSIGNED else stage),
        "window": window,
        "sort": sort,
        "computed_at": None,
    }
    if snap is None:
        return {**base, "start": None, "end": None, "stage_figures": None, "themes": []}
    payload = snap.payload
    themes = sorted(payload["themes"], key=_sort_key(sort))[:limit]
    texts = _example_texts(session, [i for t in themes for i in t["examples"]])
    shown = [{**t, "examples": [texts[i] for i in t["examples"] if i in texts]} for t in themes]
    return {
        **base,
        "computed_at": _aware(snap.computed_at).isoformat(),
        "start": payload["start"],
        "end": payload["end"],
        "stage_figures": payload["stage_figures"],
        "themes": shown,
    }


METRICS = ("nps", "csat", "leave")


def drivers(
    *, session: Session, window: str, metric: str = "nps", kind: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Stages and themes ranked by their impact on the overall metric, the most harmful first."""
    snap = session.get(ThemeSnapshot, (ALL, window))
    base: dict[str, Any] = {"metric": metric, "window": window, "computed_at": None}
    if snap is None:
        return {**base, "start": None, "end": None, "overall": None, "rows": []}
    rows = [r for r in snap.payload["rows"] if kind is None or r["kind"] == kind]
    rows.sort(
        key=lambda r: (
            r["impact"][metric] is None,
            (r["impact"][metric] or 0) * (-1 if metric == "leave" else 1),
            -r["volume"],
        )
    )
    return {
        **base,
        "computed_at": _aware(snap.computed_at).isoformat(),
        "start": snap.payload["start"],
        "end": snap.payload["end"],
        "overall": snap.payload["overall"],
        "rows": rows[:limit],
    }
