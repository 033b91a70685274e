"""The declarative adapter: any other JSON tool, described by field paths in its source's settings, no code.

A mapping names, for each canonical field, a dotted path into the payload (`ticket.requester.id`, `answers.0.text`)
or a constant (`=email`). A payload may hold one item or a list of them (`items: "data"`, the path of the list).

```json
{"items": "results", "external_id": "id", "text": "comment.body", "occurred_at": "created",
 "customer_id": "user.id", "channel": "=survey", "kind": "=survey_response", "scores.nps": "score",
 "metadata.product": "product.name"}
```
"""

from __future__ import annotations

from services.ingest.adapters.common import AdapterError, Canonical, Json, dig, int_score, parse_time, text_or_none

TARGETS = frozenset(
    {"items", "external_id", "text", "occurred_at", "customer_id", "segment", "channel", "kind", "stage_hint",
     "scores.csat", "scores.nps", "scores.ces"}
)  # fmt: skip
MAX_FIELDS = 40


def check_mapping(mapping: dict[str, str]) -> None:
    """Refuse a mapping that names an unknown target, or a path that is not a plain dotted path."""
    if len(mapping) > MAX_FIELDS:
        raise ValueError(f"a mapping has at most {MAX_FIELDS} fields")
    for target, path in mapping.items():
        if target not in TARGETS and not target.startswith("metadata."):
            raise ValueError(f"unknown target {target!r}: one of {', '.join(sorted(TARGETS))} or metadata.<key>")
        if not isinstance(path, str) or not path or len(path) > 200:
            raise ValueError(f"{target}: a path is a non-empty string of at most 200 characters")
    if "text" not in mapping and not any(t.startswith("scores.") for t in mapping):
        raise ValueError("a mapping needs a text or a score")


def _value(item: Json, path: str) -> Json:
    if path.startswith("="):
        return path[1:]
    steps: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    return dig(item, *steps)


def adapt(payload: Json, mapping: dict[str, str]) -> list[Canonical]:
    """One canonical event per item the mapping finds in the payload."""
    items_path = mapping.get("items")
    items = _value(payload, items_path) if items_path else payload
    if not isinstance(items, list):
        items = [items]
    if not all(isinstance(i, dict) for i in items) or not items:
        raise AdapterError("unsupported_payload", "the mapping's items are not JSON objects")
    return [_one(item, mapping) for item in items]


def _one(item: dict[str, Json], mapping: dict[str, str]) -> Canonical:
    get = {target: _value(item, path) for target, path in mapping.items() if target != "items"}
    scores = {
        name: score for name in ("csat", "nps", "ces") if (score := int_score(get.get(f"scores.{name}"))) is not None
    }
    metadata = {
        target.removeprefix("metadata."): str(value)[:2000]
        for target, value in get.items()
        if target.startswith("metadata.") and value is not None
    }
    return {
        "external_id": text_or_none(get.get("external_id")),
        "channel": text_or_none(get.get("channel")),
        "kind": text_or_none(get.get("kind")) or "feedback",
        "occurred_at": parse_time(get.get("occurred_at"), "occurred_at") if get.get("occurred_at") else None,
        "customer": {"id": text_or_none(get.get("customer_id")), "segment": text_or_none(get.get("segment"))},
        "text": text_or_none(get.get("text")),
        "scores": scores,
        "stage_hint": text_or_none(get.get("stage_hint")),
        "metadata": metadata,
    }
