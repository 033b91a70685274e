"""Theme figures: additive sums per theme and hour, and what they say (NPS, CSAT, negative share, impact, trend)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.accountability.scorecard import StageNumbers, health_colour
from shared.journey import HealthThresholds, JourneyMap

Sums = dict[str, float]
FIGURES = ("volume", "negative", "nps_n", "promoters", "detractors", "csat_sum", "csat_n")


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


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def trend_of(volume: float, previous: float) -> dict[str, Any]:
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


def figures_of(sums: Mapping[str, float]) -> dict[str, Any]:
    return {
        "volume": int(sums["volume"]),
        "negative_share": rounded(negative_share_of(sums), 4),
        "nps": rounded(nps_of(sums), 1),
        "nps_answers": int(sums["nps_n"]),
        "csat_mean": rounded(csat_of(sums), 4),
        "csat_answers": int(sums["csat_n"]),
    }


def thresholds_of(journey: JourneyMap, stage: str) -> HealthThresholds:
    found = journey.stage(stage)
    return found.health if found else HealthThresholds()


def stage_name_of(journey: JourneyMap, stage: str) -> str:
    found = journey.stage(stage)
    return found.name if found else "Unassigned (triage)"


def health_of(sums: Mapping[str, float], thresholds: HealthThresholds) -> str:
    numbers = StageNumbers(
        volume=int(sums["volume"]), negative=int(sums["negative"]), csat_mean=rounded(csat_of(sums), 4)
    )
    return health_colour(numbers, thresholds)[0]
