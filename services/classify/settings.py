"""The classify service's settings: the shared ones plus the model's (env prefix `CLASSIFY_`)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings


class ClassifySettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="CLASSIFY_", extra="ignore", populate_by_name=True)

    backend: Literal["tfidf", "semantic", "ensemble"] = Field(
        default="tfidf", description="Text back-end; semantic and ensemble need the [semantic] extra"
    )
    encoder: Literal["onnx-int8", "numpy"] | None = Field(
        default=None,
        description="Sentence encoder a newly trained semantic model embeds with: onnx-int8 (ONNX Runtime, int8 "
        "weights, ~4x faster) or numpy (exact float32); unset: onnx-int8 where onnxruntime is installed. Training "
        "reads it too (`services.classify.semantic.default_encoder`); a model keeps the encoder it was trained with",
    )
    model_dir: Path = Field(default=Path("var/models"), description="Versioned model artifacts and corrections")
    model_version: str | None = Field(default=None, description="Pin one artifact version; newest when unset")
    retrain_after_corrections: int = Field(
        default=0,
        ge=0,
        description="Retrain automatically after this many new corrections (0: only `journeyline classify retrain`); "
        "the candidate is promoted only if it is not worse than the current model",
    )
    retrain_tolerance: float = Field(
        default=0.01,
        ge=0.0,
        le=0.2,
        description="How much lower a candidate's macro-F1 may be on a set and count "
        "as not worse (one item of a 70-item set moves it by about 0.015)",
    )
    model_reload_seconds: float = Field(
        default=30.0, gt=0, description="How often the service checks which model version is current (a rollback)"
    )
    confidence_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Below it the stage is 'unassigned'; the journey map's when unset"
    )
    trust_stage_hints: bool = Field(default=True, description="Take a source's stage_hint as the stage")
    max_batch: int = Field(default=500, ge=1, le=10_000, description="Records per consumer batch")
    max_body_bytes: int = Field(
        default=128 * 1024, ge=1024, description="Largest request body (POST /v1/classify takes one text)"
    )
    exactly_once: bool = Field(
        default=False,
        description="Apache Kafka only: consume, produce and commit offsets in one transaction per batch",
    )
    instance_id: str = Field(
        default_factory=socket.gethostname,
        description="Stable per classify instance (the transactional id's suffix): a restart fences its old self",
    )
