"""The generic adapter: the canonical event as JSON (docs/contracts.md), minus what ingest fills in."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.adapters.common import AdapterError, Canonical, Json, require_object
from shared.models import MAX_TEXT_CHARS, Channel, Customer, Kind, Scores

# Ingest sets these itself; a client sending them is told so instead of being silently overridden.
_SERVER_FIELDS = ("id", "received_at")


NonBlank = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
MetadataKey = Annotated[str, Field(max_length=100)]
MetadataValue = Annotated[str, Field(max_length=2000)]


class GenericEvent(BaseModel):
    """The generic payload, as ingest checks it (documentation shape: validation happens on the canonical model,
    with the limits in services/ingest/intake.py). `occurred_at` must also lie between 2000-01-01 and a few minutes
    from now."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"not": {"required": ["customer", "customer_id"]}},  # one or the other, not both
    )

    external_id: NonBlank | None = Field(
        default=None, description="Your id for the item: retries with the same id are one event"
    )
    source: str | None = Field(default=None, description="If given, must be the name of the key's source (else 403)")
    channel: Channel | None = Field(default=None, description="Defaults to the source's channel")
    kind: Kind = Kind.feedback
    occurred_at: datetime | None = Field(default=None, description="When it happened; defaults to receipt time")
    customer: Customer = Field(default_factory=Customer)
    customer_id: str | None = Field(default=None, max_length=200, description="Shorthand for customer.id")
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    scores: Scores = Field(default_factory=Scores)
    stage_hint: str | None = Field(default=None, max_length=200)
    metadata: dict[MetadataKey, MetadataValue] = Field(default_factory=dict, max_length=64)


def adapt(payload: Json) -> list[Canonical]:
    event = dict(require_object(payload, "generic event"))
    for name in _SERVER_FIELDS:
        if name in event:
            raise AdapterError("unknown_field", f"{name}: set by ingest, not by the sender")
    if "customer_id" in event:
        customer_id = event.pop("customer_id")
        if "customer" in event:
            raise AdapterError("invalid_field", "customer_id: give customer or customer_id, not both")
        event["customer"] = {"id": customer_id}
    scores = event.get("scores")
    if isinstance(scores, dict):
        for name, value in scores.items():
            # JSON numbers only, as documented: validation would read `true` as 1 and "4" as 4.
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise AdapterError("invalid_field", f"scores.{name}: a score is a number")
    return [event]
