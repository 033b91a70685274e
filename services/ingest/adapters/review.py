"""Reviews: Journeyline's own shape, App Store Connect, Google Play and Trustpilot. Stars become CSAT."""

from __future__ import annotations

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

_REVIEW_FIELDS = frozenset(
    {
        "review_id", "platform", "rating", "title", "body", "app_version", "author", "customer_id",
        "reviewed_at", "language", "territory", "stage_hint",
    }
)  # fmt: skip


def adapt(payload: Json) -> list[Canonical]:
    body = require_object(payload, "review")
    if body.get("type") == "customerReviews" and isinstance(body.get("attributes"), dict):
        return [_app_store(body)]
    if isinstance(body.get("data"), dict) and body["data"].get("type") == "customerReviews":
        return [_app_store(body["data"])]
    if "reviewId" in body and isinstance(body.get("comments"), list):
        return [_google_play(body)]
    if isinstance(body.get("events"), list):
        return _trustpilot(body["events"])
    if isinstance(body.get("reviews"), list) and any("stars" in r for r in body["reviews"] if isinstance(r, dict)):
        return _trustpilot_page(body["reviews"])
    return [_review(body)]


def _review(body: dict[str, Json]) -> Canonical:
    check_fields(body, _REVIEW_FIELDS, "review")
    for name in ("review_id", "platform", "rating"):
        if body.get(name) in (None, ""):
            raise AdapterError("missing_field", f"{name}: required for a review")
    return {
        "external_id": f"{text_or_none(body['platform'])}:{text_or_none(body['review_id'])}",
        "channel": "review",
        "kind": "feedback",
        "occurred_at": parse_time(body.get("reviewed_at"), "reviewed_at"),
        "customer": {"id": text_or_none(body.get("customer_id"))},
        "text": join_text(body.get("title"), body.get("body")),
        "scores": scores(csat=body["rating"]),
        "stage_hint": text_or_none(body.get("stage_hint")),
        "metadata": meta(
            platform=body["platform"],
            title=body.get("title"),
            app_version=body.get("app_version"),
            author=body.get("author"),
            language=body.get("language"),
            territory=body.get("territory"),
            score_source="stars",
        ),
    }


def _app_store(review: dict[str, Json]) -> Canonical:
    attrs = review["attributes"]
    return {
        "external_id": tagged("app_store", review.get("id")),
        "channel": "review",
        "kind": "feedback",
        "occurred_at": parse_time(attrs.get("createdDate"), "createdDate"),
        "text": join_text(attrs.get("title"), attrs.get("body")),
        "scores": scores(csat=attrs.get("rating")),
        "metadata": meta(
            platform="app_store",
            title=attrs.get("title"),
            territory=attrs.get("territory"),
            author=attrs.get("reviewerNickname"),
            app_version=attrs.get("appVersionString"),
            score_source="stars",
        ),
    }


def _google_play(review: dict[str, Json]) -> Canonical:
    user = next((dig(c, "userComment") for c in review["comments"] if dig(c, "userComment")), None)
    if not isinstance(user, dict):
        raise AdapterError("unsupported_payload", "a Google Play review needs a userComment")
    raw = text_or_none(user.get("text")) or ""
    title, _, body = raw.partition("\t") if "\t" in raw else ("", "", raw)
    return {
        "external_id": tagged("google_play", review["reviewId"]),
        "channel": "review",
        "kind": "feedback",
        "occurred_at": parse_time(user.get("lastModified"), "lastModified"),
        "text": join_text(title, body),
        "scores": scores(csat=user.get("starRating")),
        "metadata": meta(
            platform="google_play",
            title=title or None,
            author=review.get("authorName"),
            app_version=user.get("appVersionName"),
            language=user.get("reviewerLanguage"),
            device=user.get("device"),
            score_source="stars",
        ),
    }


def _trustpilot(events: list[Json]) -> list[Canonical]:
    """A service-review webhook (`events[]` of `eventName`, `version`, `eventData`): created and updated reviews;
    deleted ones carry nothing to ingest."""
    out: list[Canonical] = []
    for event in events:
        data = dig(event, "eventData")
        if not isinstance(data, dict) or dig(event, "eventName") == "service-review-deleted":
            continue
        out.append(_trustpilot_review(data))
    if not out:
        raise AdapterError("unsupported_payload", "the Trustpilot webhook holds no review to ingest")
    return out


def _trustpilot_page(reviews: list[Json]) -> list[Canonical]:
    """A page of Trustpilot's Business Units API reviews (`reviews[]`): the same review objects, by the same
    `id`, as the webhook's `eventData`; the consumer is named `displayName` there rather than `name`."""
    out = [_trustpilot_review(review) for review in reviews if isinstance(review, dict)]
    if not out:
        raise AdapterError("unsupported_payload", "the Trustpilot reviews page holds no review")
    return out


def _trustpilot_review(data: dict[str, Json]) -> Canonical:
    return {
        "external_id": tagged("trustpilot", data.get("id")),
        "channel": "review",
        "kind": "feedback",
        "occurred_at": parse_time(data.get("createdAt"), "createdAt"),
        "customer": {"id": text_or_none(dig(data, "consumer", "id"))},
        "text": join_text(data.get("title"), data.get("text")),
        "scores": scores(csat=data.get("stars")),
        "metadata": meta(
            platform="trustpilot",
            title=data.get("title"),
            language=data.get("language"),
            reference_id=data.get("referenceId"),
            verified=data.get("isVerified"),
            score_source="stars",
        ),
    }
