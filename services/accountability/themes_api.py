"""Themes within a stage and the journey's drivers, as the theme job last ranked them (see `themes`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.accountability import theme_reads
from services.accountability.deps import ReaderDep, RuntimeDep, SessionDep
from services.accountability.schemas import Window
from shared.http import Problem
from shared.journey import HealthThresholds

router = APIRouter(prefix="/v1")

ThemeSort = Literal["volume", "nps_impact", "csat_impact", "leave_impact", "negative_share", "growth"]
Metric = Literal["nps", "csat", "leave"]


class Impact(BaseModel):
    """Score of all answers minus score without these items (NPS points, CSAT points); for `leave`: the share of
    customers who later left, minus that share without these customers (positive: they leave more)."""

    nps: float | None
    csat: float | None
    leave: float | None


class ThemeTrend(BaseModel):
    previous_volume: int
    volume_change: float | None = Field(description="(volume - previous) / previous; null when new")
    status: Literal["new", "growing", "steady", "declining"]


class Example(BaseModel):
    id: str
    text: str | None = Field(description="Null once the text has expired")
    occurred_at: str
    sentiment: str
    nps: int | None
    csat: int | None


class Figures(BaseModel):
    volume: int
    negative_share: float | None
    nps: float | None
    nps_answers: int
    csat_mean: float | None
    csat_answers: int


class StageFigures(Figures):
    leave_share: float | None = Field(description="Share of the stage's customers in the window who later left")
    customers: int


class Theme(Figures):
    key: str = Field(description="`pin:<id>` for a pinned theme (stable over time), else the phrase itself")
    label: str
    pinned: bool
    trend: ThemeTrend
    impact: Impact
    examples: list[Example]


class StageThemes(BaseModel):
    stage: str
    name: str
    window: str
    sort: str
    computed_at: str | None = Field(description="When the theme job ranked these; null before its first run")
    start: str | None
    end: str | None
    stage_figures: StageFigures | None
    themes: list[Theme]


class DriverActual(Figures):
    leave_share: float | None


class Driver(BaseModel):
    kind: Literal["stage", "theme"]
    stage: str
    stage_name: str
    theme: str | None
    label: str
    target: HealthThresholds = Field(description="The stage's health thresholds")
    actual: DriverActual
    health: str
    volume: int
    impact: Impact = Field(description="Impact on the journey's overall figures")


class Overall(Figures):
    leave_share: float | None
    customers: int


class Drivers(BaseModel):
    metric: str
    window: str
    computed_at: str | None
    start: str | None
    end: str | None
    overall: Overall | None
    rows: list[Driver]


@router.get(
    "/stages/{stage}/themes",
    tags=["themes"],
    summary="What customers talk about in a stage: volume, negative share, trend, examples and impact",
)
def stage_themes(
    stage: str,
    runtime: RuntimeDep,
    session: SessionDep,
    _: ReaderDep,
    window: Annotated[Window, Query()] = "7d",
    sort: Annotated[ThemeSort, Query()] = "volume",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> StageThemes:
    if stage not in runtime.journey.stage_ids:
        raise Problem(404, "Unknown stage", f"no stage {stage!r}; known: {', '.join(runtime.journey.stage_ids)}")
    found: dict[str, Any] = theme_reads.stage_themes(
        session=session, journey=runtime.journey, stage=stage, window=window, sort=sort, limit=limit
    )
    return StageThemes.model_validate(found)


@router.get(
    "/journey/drivers",
    tags=["themes"],
    summary="Stages and themes ranked by their impact on the overall NPS, CSAT or leave rate (biggest win first)",
)
def journey_drivers(
    session: SessionDep,
    _: ReaderDep,
    metric: Annotated[Metric, Query()] = "nps",
    window: Annotated[Window, Query()] = "30d",
    kind: Annotated[Literal["stage", "theme"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Drivers:
    return Drivers.model_validate(
        theme_reads.drivers(session=session, window=window, metric=metric, kind=kind, limit=limit)
    )
