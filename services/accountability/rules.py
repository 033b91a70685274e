"""The accountability rules as plain functions over figures: no session, no SQL, no clock of their own.

A stage's figures over a window (`StageNumbers`) go in; a colour, a breach (with the figures that prove it) or a
verdict on a resolution comes out. `alerts`, `scorecard` and the housekeeping read the figures from the database,
call these, and write what follows (alerts, outbox rows, audit entries). Everything here is unit-tested without a
database (tests/accountability/test_rules.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from shared.journey import HealthThresholds, NegativeShareParams, VolumeSpikeParams

Health = Literal["green", "yellow", "red"]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class AlertStatus(StrEnum):
    """An alert's lifecycle. `open` and `acknowledged` hold the (stage, rule) slot, and so does a resolution
    waiting for its verification: a breach in that time reopens the same alert instead of opening another."""

    open = "open"
    acknowledged = "acknowledged"
    resolved_pending_verification = "resolved_pending_verification"
    verified = "verified"
    resolved = "resolved"


OPEN_STATUSES = (AlertStatus.open.value, AlertStatus.acknowledged.value)
ACTIVE_STATUSES = (*OPEN_STATUSES, AlertStatus.resolved_pending_verification.value)
CLOSED_STATUSES = (AlertStatus.verified.value, AlertStatus.resolved.value)


class DeliveryStatus(StrEnum):
    """An outbox row: waiting (or retrying), delivered, or given up after the last attempt."""

    pending = "pending"
    delivered = "delivered"
    dead = "dead"


# Rule kinds judged over a window of the stage's figures: they can be verified after a resolution.
WINDOW_KINDS = frozenset({"negative_share", "volume_spike"})


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
    # Contact records' operational figures (see `rollup.OPERATIONS`): each mean over the contacts that reported it.
    contacts: int = 0
    wait_mean: float | None = None
    handle_mean: float | None = None
    hold_mean: float | None = None
    transfers_per_contact: float | None = None

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.volume if self.volume else None

    @property
    def nps(self) -> float | None:
        """Net promoter score, -100..100, from the items that carry an NPS answer."""
        if not self.nps_answers:
            return None
        return round(100.0 * (self.promoters - self.detractors) / self.nps_answers, 1)


def numbers_of(sums: dict[str, float]) -> StageNumbers:
    """Means and shares from additive sums (the roll-ups' columns)."""

    def mean(total: float, n: float) -> float | None:
        return round(total / n, 4) if n else None

    return StageNumbers(
        volume=int(sums["volume"]),
        negative=int(sums["negative"]),
        sentiment_mean=mean(sums["sentiment_sum"], sums["volume"]),
        csat_mean=mean(sums["csat_sum"], sums["csat_n"]),
        ces_mean=mean(sums["ces_sum"], sums["ces_n"]),
        nps_answers=int(sums["nps_n"]),
        promoters=int(sums["promoters"]),
        detractors=int(sums["detractors"]),
        contacts=int(sums.get("contacts", 0)),
        wait_mean=mean(sums.get("wait_sum", 0), sums.get("wait_n", 0)),
        handle_mean=mean(sums.get("handle_sum", 0), sums.get("handle_n", 0)),
        hold_mean=mean(sums.get("hold_sum", 0), sums.get("hold_n", 0)),
        transfers_per_contact=mean(sums.get("transfers_sum", 0), sums.get("transfers_n", 0)),
    )


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


def negative_share_breach(
    current: StageNumbers, params: NegativeShareParams, thresholds: HealthThresholds
) -> dict[str, Any] | None:
    """The figures when the stage's negative share is above the rule's threshold (the stage's red line unless
    the rule names one) with at least `min_volume` items; None when it is not, or too few items to judge."""
    if current.volume < params.min_volume:
        return None
    threshold = params.threshold if params.threshold is not None else thresholds.red_negative_share
    share = current.negative_share or 0.0
    if share <= threshold:
        return None
    return {"negative_share": round(share, 4), "threshold": threshold, "volume": current.volume}


def volume_spike_breach(
    current: StageNumbers, baseline: StageNumbers, params: VolumeSpikeParams
) -> dict[str, Any] | None:
    """The figures when the window's volume is more than `factor` times what the baseline span predicts."""
    if current.volume < params.min_volume:
        return None
    if baseline.volume < params.min_baseline:
        return None  # no history to compare against: a spike cannot be judged yet
    expected = baseline.volume * (parse_duration(params.window) / parse_duration(params.baseline))
    if current.volume <= params.factor * max(expected, 1.0):
        return None
    return {"volume": current.volume, "expected": round(expected, 2), "factor": params.factor}


Verdict = Literal["recovered", "not_recovered", "too_little_data"]


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    reason: str
    figures: dict[str, Any]


def verify(
    kind: str, *, breach: dict[str, Any] | None, current: StageNumbers, baseline: StageNumbers, min_volume: int
) -> Verification:
    """Did the stage recover after a resolution? `breach` is the rule's condition over the window ending now
    (None: it does not hold), `current` that window's figures, `baseline` the same span before the alert opened.

    Recovered: the condition no longer holds, with enough items to tell. Not recovered: it still holds. Too few
    items in the window: no verdict yet (a quiet stage proves nothing either way).
    """
    figures = {
        "volume": current.volume,
        "negative_share": _round(current.negative_share),
        "baseline_volume": baseline.volume,
        "baseline_negative_share": _round(baseline.negative_share),
    }
    if breach is not None:
        return Verification("not_recovered", f"{kind} still breached: {_describe(breach)}", {**figures, **breach})
    if current.volume < min_volume:
        return Verification(
            "too_little_data", f"{current.volume} items since the resolution, {min_volume} needed to judge", figures
        )
    if kind == "negative_share":
        reason = f"negative share {figures['negative_share']:.0%} is back under the threshold"
    else:
        reason = f"volume {current.volume} is back within the expected range"
    return Verification("recovered", reason, figures)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _describe(breach: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in breach.items())


@dataclass(frozen=True)
class AlertFacts:
    """What the accountability figures need of one alert (read from its row and `details`)."""

    status: str
    opened_at_s: float  # seconds on any common clock
    acknowledged_at_s: float | None = None
    verified_at_s: float | None = None
    reopened: int = 0  # resolutions that did not hold
    followups_answered: int = 0
    followups_agreed: int = 0


@dataclass(frozen=True)
class ResolutionFigures:
    """How a stage's (or a team's) resolutions hold up: of the resolutions judged so far (verified or reopened),
    the share reopened and the share verified; the median time to acknowledge and from opening to verified; and
    the share of customers who answered "is it fixed for you?" with yes."""

    alerts: int
    judged: int
    reopen_rate: float | None
    verified_rate: float | None
    median_time_to_ack_s: float | None
    median_time_to_verify_s: float | None
    followups_answered: int
    agreed_share: float | None


def resolution_figures(alerts: list[AlertFacts]) -> ResolutionFigures:
    verified = sum(1 for a in alerts if a.status == AlertStatus.verified)
    reopened = sum(a.reopened for a in alerts)
    judged = verified + reopened
    acks = [a.acknowledged_at_s - a.opened_at_s for a in alerts if a.acknowledged_at_s is not None]
    verifies = [a.verified_at_s - a.opened_at_s for a in alerts if a.verified_at_s is not None]
    answered = sum(a.followups_answered for a in alerts)
    agreed = sum(a.followups_agreed for a in alerts)
    return ResolutionFigures(
        alerts=len(alerts),
        judged=judged,
        reopen_rate=round(reopened / judged, 4) if judged else None,
        verified_rate=round(verified / judged, 4) if judged else None,
        median_time_to_ack_s=_median(acks),
        median_time_to_verify_s=_median(verifies),
        followups_answered=answered,
        agreed_share=round(agreed / answered, 4) if answered else None,
    )


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return round(ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2, 3)


def needs_person_to_resolve(kind: str) -> bool:
    """A critical item never resolves on silence: quiet after one severe complaint is not proof of anything."""
    return kind == "critical_item"


def auto_resolvable(kind: str, *, quiet_for: timedelta, after: timedelta) -> bool:
    """A window alert resolves itself once its condition has been clear for `after`; a critical item never."""
    return not needs_person_to_resolve(kind) and quiet_for >= after
