"""The classify service's shapes: the try-it API, a stage correction, a labelled training row."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.models import MAX_TEXT_CHARS, Channel, Scores


class ClassifyRequest(BaseModel):
    """A text to classify, as a person would paste it (nothing goes to Kafka)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    channel: Channel = Channel.other
    stage_hint: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    scores: Scores = Field(default_factory=Scores)


class ModelVersion(BaseModel):
    """One model version in the model directory and how it measured."""

    version: str
    backend: str
    trained_at: datetime
    rows: int
    source: str = Field(description="'artifact' (trained by `classify train`/`retrain`) or 'journey-map' (map only)")
    status: str = Field(
        description="'map' (the journey map's model), 'trained' (`classify train`), 'promoted' or 'rejected' "
        "(`classify retrain` and the automatic retrain)"
    )
    current: bool = Field(description="the version the service loads (promoted or rolled back to last)")
    figures: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="per evaluation set: macro_f1 and items, as measured when last compared"
    )
    note: str = Field(default="", description="why a retrained candidate was promoted or rejected")


class ModelInfo(BaseModel):
    backend: str
    version: str
    trained_at: datetime
    rows: int
    stages: list[str]
    confidence_threshold: float
    source: str = Field(description="'artifact' (a trained file) or 'journey-map' (trained from the map alone)")
    figures: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="the loaded version's figures per evaluation set, when measured"
    )
    versions: list[ModelVersion] = Field(
        default_factory=list, description="every version of this back-end in the model directory, oldest first"
    )


class Correction(BaseModel):
    """A person's relabelling of an item's stage (data of `io.journeyline.feedback.corrected`)."""

    id: str = Field(min_length=1, max_length=200)
    stage: str = Field(min_length=1, max_length=100)
    previous_stage: str | None = None
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    by: str = Field(min_length=1, max_length=200)
    at: datetime


class LabelledText(BaseModel):
    text: str
    stage: str
    language: str | None = Field(default=None, description="the language the text is written in, when known")
