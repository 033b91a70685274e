"""Reading themes: a stage's themes and the journey's drivers, as the theme job last ranked them, with example
texts read live by item id (an erased item or expired text never shows from a snapshot)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from services.accountability.models import (
    FeedbackItem,
    ThemeSnapshot,
    columns,
)
from services.accountability.theme_hours import ALL, aware
from shared.journey import UNASSIGNED, JourneyMap

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
            "occurred_at": aware(row.occurred_at).isoformat(),
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
        "computed_at": aware(snap.computed_at).isoformat(),
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
        "computed_at": aware(snap.computed_at).isoformat(),
        "start": snap.payload["start"],
        "end": snap.payload["end"],
        "overall": snap.payload["overall"],
        "rows": rows[:limit],
    }
