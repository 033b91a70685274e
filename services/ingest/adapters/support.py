"""Support desks and contact-centre task events: Zendesk, Intercom and Twilio TaskRouter (used by `call_centre`)."""

from __future__ import annotations

from typing import Any

import orjson

from services.ingest.adapters.common import (
    AdapterError,
    Canonical,
    dig,
    join_text,
    meta,
    parse_time,
    pseudonym,
    scores,
    strip_html,
    tagged,
    text_or_none,
)

_ZENDESK_CHANNELS = {
    "voice": "call", "email": "email", "chat": "chat", "messaging": "chat", "native_messaging": "chat",
    "twitter": "social", "facebook": "social", "instagram_dm": "social", "mobile_sdk": "app", "mobile": "app",
}  # fmt: skip
_TWILIO_CHANNELS = {"voice": "call", "chat": "chat", "sms": "chat", "email": "email"}
_TWILIO_CONTACT_EVENTS = ("task.completed", "task.canceled")


def is_zendesk(body: dict[str, Any]) -> bool:
    return str(body.get("type", "")).startswith("zen:event-type:ticket.") or (
        "requester_id" in body and isinstance(body.get("via"), dict) and "id" in body
    )


def is_intercom(body: dict[str, Any]) -> bool:
    return body.get("type") == "notification_event" and isinstance(dig(body, "data", "item"), dict)


def is_twilio(body: dict[str, Any]) -> bool:
    return "TaskSid" in body and "EventType" in body


def zendesk(body: dict[str, Any]) -> Canonical:
    """A Zendesk ticket webhook (`zen:event-type:ticket.*`) or a ticket object from the API."""
    if "detail" not in body:  # a ticket object
        ticket = body
        return {
            "external_id": tagged("zendesk:ticket", ticket.get("id")),
            "channel": _ZENDESK_CHANNELS.get(str(dig(ticket, "via", "channel")), "other"),
            "kind": "contact",
            "occurred_at": parse_time(ticket.get("created_at"), "created_at"),
            "customer": {"id": tagged("zendesk", ticket.get("requester_id"))},
            "text": join_text(ticket.get("subject"), ticket.get("description")),
            "metadata": meta(
                vendor="zendesk", ticket_id=ticket.get("id"), status=ticket.get("status"), tags=ticket.get("tags"),
                priority=ticket.get("priority"), csat_label=dig(ticket, "satisfaction_rating", "score"),
            ),
        }  # fmt: skip
    detail = body["detail"] if isinstance(body["detail"], dict) else {}
    comment = dig(body, "event", "comment")
    event_type = str(body["type"]).removeprefix("zen:event-type:")
    by_staff = bool(dig(comment, "author", "is_staff"))
    if isinstance(comment, dict):
        external_id, kind, text = tagged("zendesk:comment", comment.get("id")), "feedback", comment.get("body")
    else:
        external_id = tagged("zendesk:ticket", detail.get("id"))
        kind, text = "contact", join_text(detail.get("subject"), detail.get("description"))
    if external_id and event_type not in ("ticket.created", "ticket.comment_added"):
        external_id = f"{external_id}:{event_type}:{text_or_none(body.get('id'))}"
    return {
        "external_id": external_id,
        "channel": _ZENDESK_CHANNELS.get(str(dig(detail, "via", "channel")), "other"),
        "kind": "contact" if by_staff else kind,
        "occurred_at": parse_time(body.get("time") or detail.get("created_at"), "time"),
        "customer": {"id": tagged("zendesk", detail.get("requester_id"))},
        "text": text_or_none(text),
        "metadata": meta(
            vendor="zendesk", event_type=event_type, ticket_id=detail.get("id"), status=detail.get("status"),
            subject=detail.get("subject"), tags=detail.get("tags"), author_role="agent" if by_staff else None,
        ),
    }  # fmt: skip


def intercom(body: dict[str, Any]) -> Canonical:
    """An Intercom conversation notification: the customer's first message or latest reply is the text."""
    topic = str(body.get("topic", ""))
    conversation = body["data"]["item"]
    contacts = conversation.get("contacts")
    contact_list = contacts.get("contacts") if isinstance(contacts, dict) else contacts
    contact = next((c for c in contact_list or [] if isinstance(c, dict)), {})
    parts = dig(conversation, "conversation_parts", "conversation_parts") or conversation.get("conversation_parts")
    user_parts = [
        p
        for p in (parts if isinstance(parts, list) else [])
        if isinstance(p, dict) and dig(p, "author", "type") in ("user", "lead")
    ]
    conversation_id = text_or_none(conversation.get("id"))
    if topic == "conversation.user.replied" and user_parts:
        part = user_parts[-1]
        external_id, kind = tagged("intercom", f"{conversation_id}:{text_or_none(part.get('id'))}"), "feedback"
        text, stamp = strip_html(part.get("body")), part.get("created_at")
    elif topic == "conversation.user.created":
        external_id, kind = tagged("intercom", conversation_id), "contact"
        text, stamp = strip_html(dig(conversation, "source", "body")), conversation.get("created_at")
    else:  # admin replies, closes, ratings: an event about the conversation, never customer text
        external_id = tagged("intercom", f"{conversation_id}:{topic}:{text_or_none(body.get('id'))}")
        kind, text, stamp = "journey_event", None, body.get("created_at")
    source_type = str(dig(conversation, "source", "type") or "")
    rating = dig(conversation, "conversation_rating", "rating")
    return {
        "external_id": external_id,
        "channel": "email" if source_type == "email" else "social" if source_type in ("facebook", "twitter") else "chat",
        "kind": kind,
        "occurred_at": parse_time(stamp, "created_at"),
        "customer": {"id": text_or_none(contact.get("external_id")) or tagged("intercom", contact.get("id"))},
        "text": text,
        "scores": scores(csat=rating) if kind != "journey_event" else {},
        "metadata": meta(
            vendor="intercom", topic=topic, conversation_id=conversation_id,
            rating_remark=dig(conversation, "conversation_rating", "remark"), state=conversation.get("state"),
        ),
    }  # fmt: skip


def twilio(body: dict[str, Any]) -> Canonical:
    """A Twilio TaskRouter event callback (form-encoded or JSON); `TaskAttributes` is a JSON string."""
    raw_attributes = body.get("TaskAttributes") or "{}"
    try:
        attributes = orjson.loads(raw_attributes) if isinstance(raw_attributes, str) else raw_attributes
    except orjson.JSONDecodeError as exc:
        raise AdapterError("invalid_field", "TaskAttributes: not a JSON object") from exc
    if not isinstance(attributes, dict):
        raise AdapterError("invalid_field", "TaskAttributes: not a JSON object")
    event_type = str(body["EventType"])
    contact = event_type in _TWILIO_CONTACT_EVENTS
    task = text_or_none(body["TaskSid"])
    return {
        "external_id": task if contact or not task else f"{task}:{event_type}",
        "channel": _TWILIO_CHANNELS.get(str(body.get("TaskChannelUniqueName", "")).lower(), "other"),
        "kind": "contact" if contact else "journey_event",
        "occurred_at": parse_time(body.get("Timestamp"), "Timestamp"),
        "customer": {"id": text_or_none(dig(attributes, "customers", "external_id")) or pseudonym(attributes.get("from"))},
        "metadata": meta(
            vendor="twilio", event_type=event_type, queue=body.get("TaskQueueName"),
            disposition=body.get("TaskCompletedReason") or body.get("TaskCanceledReason"),
            outcome=dig(attributes, "conversations", "outcome"), task_age_seconds=body.get("TaskAge"),
            agent_id=body.get("WorkerName") or body.get("WorkerSid"),
        ),
    }  # fmt: skip
