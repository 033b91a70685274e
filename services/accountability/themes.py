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

This module is the job (steps 2 and 3). Its parts: `theme_phrases` (what an item's text says), `theme_hours`
(step 1: counting items into hours, the watermark, window reads), `theme_figures` (sums and what they mean) and
`theme_reads` (what the endpoints read).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from services.accountability.alerts import raise_alert
from services.accountability.models import (
    Alert,
    ThemeSnapshot,
    columns,
)
from services.accountability.outbox import enqueue_transition
from services.accountability.scorecard import WINDOWS, parse_duration
from services.accountability.theme_customers import read_first_seen, read_left_at, theme_members
from services.accountability.theme_figures import (
    Leavers,
    Sums,
    empty,
    figures_of,
    health_of,
    impact,
    plus,
    rounded,
    stage_name_of,
    thresholds_of,
    trend_of,
)
from services.accountability.theme_hours import (
    ALL,
    LEAVE,
    Runner,
    count_new,
    inline,
    read_theme_sums,
    recount_corrected,
    window_bounds,
)
from services.accountability.theme_phrases import PIN, merge_phrases
from services.accountability.transitions import Transition, open_key
from shared.journey import AlertRule, JourneyMap

MIN_SUPPORT = 3  # a discovered phrase needs this many items in a window to be listed

# -- the job --------------------------------------------------------------------------------------------------


@dataclass
class JobOutcome:
    counted: int = 0  # items counted in this run
    recounted: int = 0  # corrected items moved to their new stage
    snapshots: int = 0
    transitions: list[Transition] = field(default_factory=list)
    outbox_rows: int = 0


def snapshot_window(
    *, session: Session, journey: JourneyMap, window: str, now: datetime, left_at: Mapping[str, datetime]
) -> list[ThemeSnapshot]:
    """Rank every stage's themes for one window and the journey's drivers: the snapshots to write (it only reads)."""
    span = WINDOWS[window]
    start, end = window_bounds(now, span)
    current = read_theme_sums(session, start, end, min_volume=MIN_SUPPORT)
    first_seen = read_first_seen(session, start, now)
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
    previous = read_theme_sums(session, start - span, start, themes=[*keys, ALL]) if keys else {}
    drivers: list[dict[str, Any]] = []
    snapshots = []
    for stage in journey.stage_ids:
        total = current.get((stage, ALL), empty())
        stage_customers = first_seen.get(stage, {})
        pool = Leavers(stage_customers, left_at)
        listed = per_stage[stage]
        customers, examples = theme_members(session, stage, [k for k, _, _ in listed], start, now)
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
                    **figures_of(sums),
                    "trend": trend_of(sums["volume"], current_or_empty(previous, stage, key)["volume"]),
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
                        "stage_name": stage_name_of(journey, stage),
                        "theme": key,
                        "label": label,
                        **_driver_numbers(journey, stage, sums, overall, all_pool, who, None),
                    }
                )
        themes.sort(key=lambda t: (-t["volume"], -t["key"].count(" "), t["key"]))
        stage_figures = {
            **figures_of(total),
            "leave_share": None if stage == LEAVE else rounded(pool.share, 4),
            "customers": len(stage_customers),
        }
        payload = {
            "window": window,
            "start": start.isoformat(),
            "end": now.isoformat(),
            "stage_figures": stage_figures,
            "themes": themes,
        }
        snapshots.append(ThemeSnapshot(stage=stage, window=window, computed_at=now, payload=payload))
        if total["volume"] > 0:
            drivers.append(
                {
                    "kind": "stage",
                    "stage": stage,
                    "stage_name": stage_name_of(journey, stage),
                    "theme": None,
                    "label": stage_name_of(journey, stage),
                    **_driver_numbers(journey, stage, total, overall, all_pool, stage_customers, pool),
                }
            )
    journey_payload = {
        "window": window,
        "start": start.isoformat(),
        "end": now.isoformat(),
        "overall": {
            **figures_of(overall),
            "leave_share": rounded(all_pool.share, 4),
            "customers": len(everyone),
        },
        "rows": drivers,
    }
    snapshots.append(ThemeSnapshot(stage=ALL, window=window, computed_at=now, payload=journey_payload))
    return snapshots


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
    thresholds = thresholds_of(journey, stage)
    actual = figures_of(sums)
    actual["leave_share"] = None if stage_pool is None or stage == LEAVE else rounded(stage_pool.share, 4)
    return {
        "target": thresholds.model_dump(),
        "actual": actual,
        "health": health_of(sums, thresholds),
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
        start, end = window_bounds(now, span)
        current = read_theme_sums(session, start, end, min_volume=min_volume)
        present = {k for _, k in current}
        cache[span] = (current, read_theme_sums(session, start - span, start, themes=present) if present else {})
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
    max_batches: int = 200,
    windows: Sequence[str] = tuple(WINDOWS),
    compute: Runner = inline,
) -> JobOutcome:
    """Count newly stored items, re-rank every window, apply `emerging_theme` rules.

    The service's store must never wait behind this job: on SQLite a write transaction locks the whole database,
    and counting 100,000 items and ranking every window takes a minute of CPU. So the counting commits batch by
    batch, each holding the lock only for its writes (theme_hours.counted_batch), the windows are ranked by
    reading alone, and the snapshots, the rules' alerts and their deliveries are written together at the end
    (the caller commits that last part). Reading and ranking run in `compute` (theme_process: a thread of lower
    priority), the writes in the caller's thread."""
    outcome = JobOutcome()
    until = now - settle
    outcome.counted = count_new(session, journey, now, until, max_batches, compute)
    outcome.recounted = recount_corrected(session, journey, now, until, compute)

    def rank() -> list[ThemeSnapshot]:  # reading only: no lock is held while ranking
        left_at = read_left_at(session) if journey.stage(LEAVE) else {}
        ranked: list[ThemeSnapshot] = []
        for window in windows:
            ranked += snapshot_window(session=session, journey=journey, window=window, now=now, left_at=left_at)
        return ranked

    ranked = compute(rank)
    for snapshot in ranked:
        session.merge(snapshot)
    outcome.snapshots = len(ranked)
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
