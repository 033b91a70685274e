"""The generic adapter: the canonical event as JSON (docs/contracts.md), minus what ingest fills in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.ingest.adapters.common import AdapterError, Canonical, require_object
from shared.models import MAX_TEXT_CHARS, Channel, Customer, Kind, Scores

# Ingest sets these itself; a client sending them is told so instead of being silently overridden.
_SERVER_FIELDS = ("id", "received_at")


class GenericEvent(BaseModel):
    """The generic payload (documentation shape; validation happens on the canonical model)."""

    model_config = ConfigDict(extra="forbid")

    external_id: str | None = Field(
        default=None, max_length=200, description="Your id for the item: retries with the same id are one event"
    )
    source: str | None = Field(default=None, description="If given, must be the name of the key's source (else 403)")
    channel: Channel | None = Field(default=None, description="Defaults to the source's channel")
    kind: Kind = Kind.feedback
    occurred_at: datetime | None = Field(default=None, description="When it happened; defaults to receipt time")
    customer: Customer | None = None
    customer_id: str | None = Field(default=None, description="Shorthand for customer.id")
    text: str | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    scores: Scores | None = None
    stage_hint: str | None = None
    metadata: dict[str, str] | None = None


def adapt(payload: Any) -> list[Canonical]:
    event = dict(require_object(payload, "generic event"))
    for name in _SERVER_FIELDS:
        if name in event:
            raise AdapterError("unknown_field", f"{name}: set by ingest, not by the sender")
    if "customer_id" in event:
        customer_id = event.pop("customer_id")
        if "customer" in event:
            raise AdapterError("invalid_field", "customer_id: give customer or customer_id, not both")
        event["customer"] = {"id": customer_id}
    return [event]
