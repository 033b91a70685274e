"""The window conditions of the alert rules read from the roll-ups: the figures in, `rules` decides. A cache keeps
one consumer's window figures between batches (at most `ttl` old)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from services.accountability.rules import StageNumbers, negative_share_breach, parse_duration, volume_spike_breach
from services.accountability.scorecard import stage_numbers
from services.accountability.store import StoredItem
from shared.journey import AlertRule, HealthThresholds, JourneyMap, NegativeShareParams, VolumeSpikeParams
from shared.models import Kind


def rules_for(journey: JourneyMap, stage: str, kind: str) -> list[AlertRule]:
    return [r for r in journey.alert_rules if r.kind == kind and (r.stage is None or r.stage == stage)]


def thresholds(journey: JourneyMap, stage: str) -> HealthThresholds:
    found = journey.stage(stage)
    return found.health if found else HealthThresholds()


class WindowCache:
    """Window aggregates for the alert rules, kept by one consumer process from batch to batch.

    The figures are read from the database (its per-minute roll-ups) at most once per `ttl` of the clock; in
    between, the items this process stores are added to them. Rows written by another process, corrections and
    rows sliding out of the window show at the next refresh, at most `ttl` later.
    """

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[timedelta, timedelta], tuple[datetime, dict[str, StageNumbers]]] = {}

    @classmethod
    def single_read(cls) -> WindowCache:
        """A cache that reads each window once and keeps it: for one batch, or one check, at a single `now`."""
        return cls(ttl=timedelta.max)

    def clear(self) -> None:
        """Forget everything (after a failed transaction: its items were never stored)."""
        self._entries.clear()

    def add(self, items: Sequence[StoredItem], now: datetime) -> None:
        """Count newly stored items into every window that holds them."""
        for (length, offset), (at, numbers) in self._entries.items():
            start, end = at - offset - length, now - offset
            for item in items:
                occurred = item.occurred_at if item.occurred_at.tzinfo else item.occurred_at.replace(tzinfo=UTC)
                if item.kind == Kind.journey_event.value or not start < occurred <= end:
                    continue
                before = numbers.get(item.stage, StageNumbers())
                numbers[item.stage] = replace(
                    before, volume=before.volume + 1, negative=before.negative + (item.sentiment_label == "negative")
                )

    def numbers(self, session: Session, now: datetime, length: timedelta, offset: timedelta) -> dict[str, StageNumbers]:
        """Every stage's numbers for (now - offset - length, now - offset]."""
        entry = self._entries.get((length, offset))
        if entry is None or now < entry[0] or now - entry[0] >= self.ttl:
            entry = (now, stage_numbers(session=session, start=now - offset - length, end=now - offset))
            self._entries[(length, offset)] = entry
        return entry[1]


def condition_holds(
    *,
    session: Session,
    journey: JourneyMap,
    stage: str,
    rule: AlertRule,
    now: datetime,
    cache: WindowCache | None = None,
) -> dict[str, Any] | None:
    """For window rules: the figures when the condition holds now, else None (without a cache: read now)."""
    windows = cache if cache is not None else WindowCache.single_read()
    window = parse_duration(rule.params.get("window", "1h"))
    current = windows.numbers(session, now, window, timedelta(0)).get(stage, StageNumbers())
    if rule.kind == "negative_share":
        return negative_share_breach(
            current, NegativeShareParams.model_validate(rule.params), thresholds(journey, stage)
        )
    if rule.kind == "volume_spike":
        params = VolumeSpikeParams.model_validate(rule.params)
        base = windows.numbers(session, now, parse_duration(params.baseline), window).get(stage, StageNumbers())
        return volume_spike_breach(current, base, params)
    return None
