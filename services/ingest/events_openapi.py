"""How POST /v1/events is documented: the bodies each adapter takes (JSON, a batch, NDJSON, form fields), the
examples, and every answer it can give."""

from __future__ import annotations

from typing import Any

from services.ingest.adapters.generic import GenericEvent
from services.ingest.examples import EXAMPLES, FORM_EXAMPLES, NDJSON_EXAMPLE
from services.ingest.models import (
    Adapter,
    BatchResult,
)
from shared.http import Responses, problem_responses


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its `$defs` references inlined: they would resolve against the OpenAPI document's root."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(schema)
    return result


GENERIC_EVENT_REF = "#/components/schemas/GenericEvent"
# A form carries strings only: the generic adapter's string fields (customer, scores and metadata need JSON).
_FORM_FIELDS = ("external_id", "source", "channel", "kind", "occurred_at", "customer_id", "text", "stage_hint")


def _form_schema() -> dict[str, Any]:
    fields = _inline(GenericEvent.model_json_schema())["properties"]
    properties: dict[str, Any] = {}
    for name in _FORM_FIELDS:
        field = {k: v for k, v in fields[name].items() if k not in ("default", "title")}
        choices = [c for c in field.pop("anyOf", [field]) if c.get("type") != "null"]
        properties[name] = {**choices[0], **{k: v for k, v in field.items() if k != "anyOf"}}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }


def batch_schema(max_items: int) -> dict[str, Any]:
    """A JSON array (or NDJSON lines) of generic events: at least one, at most INGEST_MAX_BATCH_ITEMS."""
    return {"type": "array", "items": {"$ref": GENERIC_EVENT_REF}, "minItems": 1, "maxItems": max_items}


_ADAPTERS = [a.value for a in Adapter]
_ADAPTER_DOC = (
    "The payload's shape; defaults to the source's adapter. The request schemas below are the generic adapter's "
    "(the canonical event); the other adapters take their tools' own payloads (see the examples, each with the "
    "adapter it needs), and `mapping` the source's own field paths."
)
EVENTS_OPENAPI: dict[str, Any] = {
    "security": [{"APIKeyHeader": []}],
    "parameters": [
        {
            "name": "adapter",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": _ADAPTERS},
            "description": _ADAPTER_DOC,
        },
        {
            "name": "X-Journeyline-Adapter",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "enum": _ADAPTERS},
            "description": "The same as ?adapter= (the query parameter wins when both are given)",
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [{"$ref": GENERIC_EVENT_REF}, batch_schema(1000)]},
                "examples": EXAMPLES,
            },
            "application/x-ndjson": {
                "schema": batch_schema(1000),
                "description": "One generic event per line; a line that is not JSON rejects only itself",
                "examples": {
                    "ndjson": {"summary": "generic: two chat messages", "value": NDJSON_EXAMPLE, "x-adapter": "generic"}
                },
            },
            "application/x-www-form-urlencoded": {
                "schema": _form_schema(),
                "examples": FORM_EXAMPLES,
            },
        },
    },
}
EVENTS_RESPONSES: Responses = {
    202: {
        "description": "Every event is on the broker (acks=all). One event: `Accepted`; a batch: `BatchResult`.",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [{"$ref": "#/components/schemas/Accepted"}, {"$ref": "#/components/schemas/BatchResult"}]
                }
            }
        },
    },
    207: {"description": "Some events of the batch were accepted; see `results`", "model": BatchResult},
    **problem_responses(
        {
            400: "Malformed JSON or form, invalid UTF-8, an unknown adapter, or the mapping adapter without a mapping",
            401: "Missing, unknown or revoked API key",
            403: "An event names another source",
            413: "Body or batch too large (INGEST_MAX_BODY_BYTES, INGEST_MAX_BATCH_ITEMS)",
            415: "Not JSON, NDJSON or a form (x-www-form-urlencoded), or not UTF-8",
            422: "No event was valid: `reason` for one event, `results` (a reason per item) for a batch",
            429: "The source's rate limit (`rate_limited`), or too many of its events waiting for the broker "
            "(`source_busy`); see Retry-After",
            503: "The broker did not acknowledge in time; retry after Retry-After",
        }
    ),
}
