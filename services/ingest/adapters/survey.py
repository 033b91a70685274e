"""Survey responses: Journeyline's own shape, Typeform and Delighted webhooks. NPS 0-10, CSAT 1-5, CES 1-7."""

from __future__ import annotations

from services.ingest.adapters import vendors
from services.ingest.adapters.common import (
    AdapterError,
    Canonical,
    Json,
    check_fields,
    dig,
    join_text,
    meta,
    parse_time,
    require_object,
    scores,
    tagged,
    text_or_none,
)

_RESPONSE_FIELDS = frozenset(
    {
        "response_id", "survey_id", "customer_id", "segment", "nps", "csat", "ces", "verbatim",
        "submitted_at", "stage_hint", "channel", "language",
    }
)  # fmt: skip
_SCORE_REFS = ("nps", "csat", "ces")


def adapt(payload: Json) -> list[Canonical]:
    body = require_object(payload, "survey response")
    vendors.refuse_notification(body)
    if body.get("event_type") == "form_response" and isinstance(body.get("form_response"), dict):
        return [_typeform(body["form_response"])]
    if isinstance(body.get("items"), list) and "total_items" in body:  # a page of Typeform's Responses API
        return _typeform_page(body["items"])
    if str(body.get("event_type", "")).startswith("survey_response.") and isinstance(body.get("event_data"), dict):
        return [_delighted(body["event_data"])]
    return [_response(body)]


def _response(body: dict[str, Json]) -> Canonical:
    check_fields(body, _RESPONSE_FIELDS, "survey response")
    if not body.get("response_id"):
        raise AdapterError("missing_field", "response_id: required for a survey response")
    found = scores(nps=body.get("nps"), csat=body.get("csat"), ces=body.get("ces"))
    if not found and not body.get("verbatim"):
        raise AdapterError("missing_field", "a survey response needs a score (nps, csat, ces) or a verbatim")
    return {
        "external_id": text_or_none(body["response_id"]),
        "channel": body.get("channel") or "survey",
        "kind": "survey_response",
        "occurred_at": parse_time(body.get("submitted_at"), "submitted_at"),
        "customer": {"id": text_or_none(body.get("customer_id")), "segment": text_or_none(body.get("segment"))},
        "text": text_or_none(body.get("verbatim")),
        "scores": found,
        "stage_hint": text_or_none(body.get("stage_hint")),
        "metadata": meta(survey_id=body.get("survey_id"), language=body.get("language")),
    }


def _typeform_page(items: list[Json]) -> list[Canonical]:
    """`GET /forms/{form_id}/responses`: each completed item is a response with the same `token` (hence the same
    id) the `form_response` webhook carries; started and partial responses (`response_type`) are skipped."""
    responses = [
        _typeform(item)
        for item in items
        if isinstance(item, dict) and item.get("response_type", "completed") == "completed"
    ]
    if not responses:
        raise AdapterError("unsupported_payload", "the Typeform responses page holds no completed response")
    return responses


def _typeform(form: dict[str, Json]) -> Canonical:
    """Typeform `form_response` (or a Responses API item): nps/csat/ces by field type or ref; text answers joined
    as the verbatim. `definition`, `hidden`, `calculated` and a field's `ref` may all be absent."""
    found: dict[str, Json] = {}
    texts: list[Json] = []
    for answer in form.get("answers") or []:
        if not isinstance(answer, dict):
            continue
        field = answer.get("field") or {}
        names = {str(field.get("type", "")).lower(), str(field.get("ref", "")).lower()}
        score_name = next((n for n in _SCORE_REFS if n in names), None)
        if score_name and answer.get("type") == "number":
            found[score_name] = answer.get("number")
        elif answer.get("type") == "text":
            texts.append(answer.get("text"))
        elif answer.get("type") == "choice":
            texts.append(dig(answer, "choice", "label"))
    hidden: dict[str, Json] = form["hidden"] if isinstance(form.get("hidden"), dict) else {}
    return {
        "external_id": tagged("typeform", form.get("token")),
        "channel": "survey",
        "kind": "survey_response",
        "occurred_at": parse_time(form.get("submitted_at"), "submitted_at"),
        "customer": {"id": text_or_none(hidden.get("customer_id"))},
        "text": join_text(*texts),
        "scores": scores(**found),
        "stage_hint": text_or_none(hidden.get("stage")),
        "metadata": meta(
            vendor="typeform",
            form_id=form.get("form_id"),
            survey_title=dig(form, "definition", "title"),
            **{f"hidden.{k}": v for k, v in hidden.items() if k not in ("customer_id", "stage")},
        ),
    }


def _delighted(data: dict[str, Json]) -> Canonical:
    """Delighted `survey_response.*`: the score goes to nps/csat/ces by `survey_type`.

    The response id is the external id, so `.updated` (which usually brings the comment) is the same
    event as `.created`: downstream keeps the first one it sees.
    """
    survey_type = str(data.get("survey_type") or "").lower()
    if survey_type not in _SCORE_REFS:
        raise AdapterError("unsupported_payload", f"survey_type {survey_type!r} is not one of nps, csat, ces")
    props: dict[str, Json] = data["person_properties"] if isinstance(data.get("person_properties"), dict) else {}
    return {
        "external_id": tagged("delighted", data.get("id")),
        "channel": "survey",
        "kind": "survey_response",
        "occurred_at": parse_time(data.get("created_at"), "created_at"),
        "customer": {"id": text_or_none(props.get("customer_id")) or tagged("delighted", dig(data, "person", "id"))},
        "text": text_or_none(data.get("comment")),
        "scores": scores(**{survey_type: data.get("score")}),
        "metadata": meta(vendor="delighted", survey_type=survey_type, plan=props.get("Plan"), tags=data.get("tags")),
    }
