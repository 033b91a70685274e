"""Social mentions and comments: Journeyline's own shape, X posts, Facebook/Instagram webhooks, Reddit."""

from __future__ import annotations

from datetime import datetime

from services.ingest.adapters import vendors
from services.ingest.adapters.common import (
    AdapterError,
    Canonical,
    Json,
    check_fields,
    dig,
    meta,
    parse_time,
    require_object,
    tagged,
    text_or_none,
)

_MENTION_FIELDS = frozenset(
    {
        "post_id",
        "platform",
        "author_handle",
        "author_id",
        "text",
        "posted_at",
        "reply_to",
        "url",
        "language",
        "stage_hint",
    }
)


def adapt(payload: Json) -> list[Canonical]:
    body = require_object(payload, "social mention")
    if body.get("object") in ("page", "instagram") and isinstance(body.get("entry"), list):
        return _meta_webhook(body)
    if isinstance(body.get("data"), dict) and "author_id" in body["data"]:
        return [_x_post(body["data"])]
    if isinstance(body.get("data"), list) and ("meta" in body or "includes" in body):  # an X search result page
        posts = [_x_post(post) for post in body["data"] if isinstance(post, dict)]
        if not posts:
            raise AdapterError("unsupported_payload", "the search result holds no post")
        return posts
    if "author_id" in body and "text" in body and "id" in body and "post_id" not in body:
        return [_x_post(body)]
    if "id_str" in body and isinstance(body.get("user"), dict):  # an X (Twitter) API v1.1 status
        return [_x_status_v1(body)]
    if body.get("kind") == "t1" and isinstance(body.get("data"), dict):
        return [_reddit(body["data"])]
    return [_mention(body)]


def _mention(body: dict[str, Json]) -> Canonical:
    check_fields(body, _MENTION_FIELDS, "social mention")
    for name in ("post_id", "platform", "text"):
        if not body.get(name):
            raise AdapterError("missing_field", f"{name}: required for a social mention")
    return {
        "external_id": f"{text_or_none(body['platform'])}:{text_or_none(body['post_id'])}",
        "channel": "social",
        "kind": "feedback",
        "occurred_at": parse_time(body.get("posted_at"), "posted_at"),
        "customer": {"id": text_or_none(body.get("author_id")) or _handle_id(body.get("author_handle"))},
        "text": text_or_none(body["text"]),
        "stage_hint": text_or_none(body.get("stage_hint")),
        "metadata": meta(
            platform=body["platform"],
            author_handle=body.get("author_handle"),
            reply_to=body.get("reply_to"),
            url=body.get("url"),
            language=body.get("language"),
        ),
    }


def _handle_id(handle: Json) -> str | None:
    text = text_or_none(handle)
    return f"handle:{text.lstrip('@').lower()}" if text else None


def _x_status_v1(status: dict[str, Json]) -> Canonical:
    """An X API v1.1 status (the older REST and Account Activity shape): `id_str`, `full_text` or `text`, `user`."""
    return {
        "external_id": tagged("x", status.get("id_str")),
        "channel": "social",
        "kind": "feedback",
        "occurred_at": parse_time(_twitter_time(status.get("created_at")), "created_at"),
        "customer": {"id": tagged("x", dig(status, "user", "id_str"))},
        "text": text_or_none(status.get("full_text") or dig(status, "extended_tweet", "full_text") or status.get("text")),
        "metadata": meta(
            platform="x", language=status.get("lang"), author_handle=dig(status, "user", "screen_name"),
            reply_to=status.get("in_reply_to_status_id_str"),
        ),
    }  # fmt: skip


def _twitter_time(value: Json) -> Json:
    """v1.1 writes times as `Wed Mar 05 09:00:00 +0000 2025`; ISO and epoch values pass through."""
    if isinstance(value, str) and len(value) == 30 and value[3] == " ":
        try:
            return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").isoformat()
        except ValueError:
            return value
    return value


def _x_post(post: dict[str, Json]) -> Canonical:
    """An X (Twitter) API v2 post object, bare or inside `{"data": ...}`."""
    replied = next(
        (
            r.get("id")
            for r in post.get("referenced_tweets") or []
            if isinstance(r, dict) and r.get("type") == "replied_to"
        ),
        None,
    )
    return {
        "external_id": tagged("x", post.get("id")),
        "channel": "social",
        "kind": "feedback",
        "occurred_at": parse_time(post.get("created_at"), "created_at"),
        "customer": {"id": tagged("x", post.get("author_id"))},
        "text": text_or_none(post.get("text")),
        "metadata": meta(
            platform="x",
            language=post.get("lang"),
            conversation_id=post.get("conversation_id"),
            reply_to=replied or post.get("in_reply_to_user_id"),
        ),
    }


def _meta_webhook(body: dict[str, Json]) -> list[Canonical]:
    """A Facebook Page `feed` or Instagram `comments` webhook: one event per change. Older Graph API versions
    (2.5) sent the author of a feed change as `sender_id`; later ones (2.11 on) send `from: {id, name}`. Names are
    not kept."""
    platform = "facebook" if body["object"] == "page" else "instagram"
    events: list[Canonical] = []
    for entry in body["entry"]:
        events += vendors.meta_messages(platform, entry) if isinstance(entry, dict) else []
        for change in dig(entry, "changes") or []:
            value = dig(change, "value")
            if not isinstance(value, dict) or dig(change, "field") not in ("feed", "comments"):
                continue
            if platform == "facebook" and value.get("item") not in ("comment", "post", "status"):
                continue  # reactions, likes and shares carry no feedback text
            item_id = value.get("comment_id") or value.get("post_id") or value.get("id")
            stamp = value.get("created_time") or dig(entry, "time")
            events.append(
                {
                    "external_id": tagged(platform, item_id),
                    "channel": "social",
                    "kind": "feedback",
                    "occurred_at": parse_time(stamp, "created_time"),
                    "customer": {"id": tagged(platform, dig(value, "from", "id") or value.get("sender_id"))},
                    "text": text_or_none(value.get("message") or value.get("text")),
                    "metadata": meta(
                        platform=platform,
                        author_handle=dig(value, "from", "username"),
                        post_id=value.get("post_id") or dig(value, "media", "id"),
                        reply_to=value.get("parent_id"),
                        verb=value.get("verb"),
                    ),
                }
            )
    if not events:
        raise AdapterError("unsupported_payload", "the webhook holds no comment, post or customer message to ingest")
    return events


def _reddit(comment: dict[str, Json]) -> Canonical:
    """A Reddit comment (`kind: t1`), as the listing API returns it."""
    return {
        "external_id": text_or_none(comment.get("name") or comment.get("id")),
        "channel": "social",
        "kind": "feedback",
        "occurred_at": parse_time(comment.get("created_utc"), "created_utc"),
        "customer": {"id": tagged("reddit", comment.get("author_fullname") or comment.get("author"))},
        "text": text_or_none(comment.get("body")),
        "metadata": meta(
            platform="reddit",
            author_handle=comment.get("author"),
            subreddit=comment.get("subreddit"),
            reply_to=comment.get("parent_id"),
            post_id=comment.get("link_id"),
        ),
    }
