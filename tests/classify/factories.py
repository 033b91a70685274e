"""Small builders for classify tests."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from services.classify.service import Classifier
from services.classify.trained import TrainedModel
from services.classify.training import fit, journey_rows
from shared.journey import JourneyMap, load_journey_map
from shared.models import Feedback, utcnow
from shared.settings import DEFAULT_JOURNEY_MAP


@lru_cache(maxsize=1)
def journey() -> JourneyMap:
    return load_journey_map(DEFAULT_JOURNEY_MAP)


@lru_cache(maxsize=1)
def map_model() -> TrainedModel:
    return fit("tfidf", journey_rows(journey()), source="journey-map", version="map-tfidf")


def classifier(threshold: float = 0.45, **kwargs: Any) -> Classifier:
    return Classifier(journey(), map_model(), threshold, **kwargs)


def feedback(text: str | None = "", **fields: Any) -> Feedback:
    now = utcnow()
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "source": "test",
        "channel": "other",
        "occurred_at": now,
        "received_at": now,
        "text": text,
    }
    data.update(fields)
    return Feedback.model_validate(data)
