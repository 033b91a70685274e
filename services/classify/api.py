"""Thin HTTP routes: try the classifier on a text, see which model is loaded."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter

from services.classify import model_store
from services.classify.deps import ClassifierDep
from services.classify.models import ClassifyRequest, ModelInfo
from shared.http import Problem, problem_responses
from shared.models import Classification, Feedback, utcnow

router = APIRouter(prefix="/v1", tags=["classify"])


@router.post(
    "/classify",
    response_model=Classification,
    responses=problem_responses(
        {
            400: "The body is not valid JSON",
            413: "The body is over the service's limit (CLASSIFY_MAX_BODY_BYTES)",
            422: "Not a valid request (`errors` says where), or a text of spaces only",
            500: "The service failed to handle the request (it was logged)",
            503: "The classifier is still loading; retry after Retry-After",
        }
    ),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        "refund": {
                            "summary": "an e-mail about a refund",
                            "value": {"text": "Still waiting for my refund, it's been a month", "channel": "email"},
                        }
                    }
                }
            }
        }
    },
)
async def classify_text(body: ClassifyRequest, classifier: ClassifierDep) -> Classification:
    """Classify a text as the pipeline would (hint, metadata rules, text model); nothing is sent to Kafka."""
    if not body.text.strip():
        raise Problem(422, "Invalid request", "text: must contain something other than spaces")
    now = utcnow()
    feedback = Feedback(
        id=str(uuid.uuid4()),
        source="try-it",
        channel=body.channel,
        occurred_at=now,
        received_at=now,
        text=body.text,
        scores=body.scores,
        stage_hint=body.stage_hint,
        metadata=body.metadata,
    )
    if classifier.backend_name == "tfidf":
        return classifier.classify(feedback)
    return await asyncio.to_thread(classifier.classify, feedback)  # an encoder: keep the event loop free


@router.get(
    "/model",
    response_model=ModelInfo,
    responses=problem_responses(
        {
            500: "The service failed to handle the request (it was logged)",
            503: "The classifier is still loading; retry after Retry-After",
        }
    ),
)
async def model_info(classifier: ClassifierDep) -> ModelInfo:
    """The loaded model (back-end, version, when and on how many rows it was trained, the threshold, its figures)
    and every model version in the model directory with its status and figures."""
    return model_store.model_info(classifier.model, classifier.threshold)
