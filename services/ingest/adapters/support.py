"""Support desks and contact-centre task events: Zendesk, Intercom and Twilio TaskRouter (used by `call_centre`)."""

from __future__ import annotations

import orjson

from services.ingest.adapters.common import (
    AdapterError,
    Canonical,
    Json,
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


def is_zendesk(body: dict[str, Json]) -> bool:
    return (
        str(body.get("type", "")).startswith(("zen:event-type:ticket.", "zen:event-type:messaging_ticket."))
        or isinstance(dig(body, "detail", "ticket_event"), dict)  # the Events Connector (Amazon EventBridge)
        or ("requester_id" in body and isinstance(body.get("via"), dict) and "id" in body)
    )


def is_intercom(body: dict[str, Json]) -> bool:
    return body.get("type") == "notification_event" and isinstance(dig(body, "data", "item"), dict)


def is_twilio(body: dict[str, Json]) -> bool:
    return "TaskSid" in body and "EventType" in body


def zendesk(body: dict[str, Json]) -> Canonical:
    """A Zendesk ticket webhook (`zen:event-type:ticket.*`), a messaging webhook
    (`zen:event-type:messaging_ticket.message_added`), an Events Connector ticket event (Amazon EventBridge,
    `detail.ticket_event`, schema 1.0) or a ticket object from the API. A comment has the same id in all of them."""
    if isinstance(dig(body, "detail", "ticket_event"), dict):
        return _zendesk_ticket_event(body)
    if str(body.get("type", "")).startswith("zen:event-type:messaging_ticket."):
        return _zendesk_message(body)
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


# Events Connector event names (`ticket_event.type`) for which the webhook has another name.
_ZENDESK_EVENTBRIDGE_TYPES = {"Comment Created": "ticket.comment_added", "Ticket Created": "ticket.created"}


def _zendesk_ticket_event(body: dict[str, Json]) -> Canonical:
    """The Events Connector's ticket event (`detail-type: "Support Ticket: ..."`): `ticket_event.ticket` carries
    ids, status, tags and channel but no subject or description; a "Comment Created" event carries the comment."""
    event = body["detail"]["ticket_event"]
    name = str(event.get("type") or "")
    event_type = _ZENDESK_EVENTBRIDGE_TYPES.get(name) or "ticket." + "_".join(name.lower().split())
    ticket = event["ticket"] if isinstance(event.get("ticket"), dict) else {}
    comment = event.get("comment")
    by_staff = bool(dig(comment, "author", "is_staff"))
    if isinstance(comment, dict):
        external_id, kind, text = tagged("zendesk:comment", comment.get("id")), "feedback", comment.get("body")
    else:
        external_id, kind, text = tagged("zendesk:ticket", ticket.get("id")), "contact", None
    if external_id and event_type not in ("ticket.created", "ticket.comment_added"):
        external_id = f"{external_id}:{event_type}:{text_or_none(body.get('id'))}"  # as the webhook's
    return {
        "external_id": external_id,
        "channel": _ZENDESK_CHANNELS.get(str(dig(ticket, "via", "channel")), "other"),
        "kind": "contact" if by_staff else kind,
        "occurred_at": parse_time(dig(event, "meta", "occurred_at") or body.get("time"), "occurred_at"),
        "customer": {"id": tagged("zendesk", ticket.get("requester_id"))},
        "text": text_or_none(text),
        "metadata": meta(
            vendor="zendesk", event_type=event_type, ticket_id=ticket.get("id"), status=ticket.get("status"),
            tags=ticket.get("tags"), author_role="agent" if by_staff else None,
        ),
    }  # fmt: skip


def _zendesk_message(body: dict[str, Json]) -> Canonical:
    """A messaging (chat) ticket's message: `event.message` and its `event.actor` (end_user, agent, trigger or
    system); `detail.id` is the ticket. Only an end user's message is feedback."""
    actor = dig(body, "event", "actor") or {}
    role = str(actor.get("type") or "")
    customer = role == "end_user"
    return {
        "external_id": tagged("zendesk:message", dig(body, "event", "message", "id")),
        "channel": "chat",
        "kind": "feedback" if customer else "contact",
        "occurred_at": parse_time(body.get("time"), "time"),
        "customer": {"id": tagged("zendesk", actor.get("id")) if customer else None},
        "text": text_or_none(dig(body, "event", "message", "body")),
        "metadata": meta(
            vendor="zendesk", event_type=str(body["type"]).removeprefix("zen:event-type:"),
            ticket_id=dig(body, "detail", "id"), conversation_id=dig(body, "event", "conversation_id"),
            author_role=None if customer else role or None,
        ),
    }  # fmt: skip


def intercom(body: dict[str, Json]) -> Canonical:
    """An Intercom conversation notification: the customer's first message or latest reply is the text.

    API 2.x names the first message `source` and the customers `contacts` (`external_id`); API 1.x named them
    `conversation_message` and `user` (`user_id`, the same value as `external_id`). The ids are the same in both."""
    topic = str(body.get("topic", ""))
    conversation = body["data"]["item"]
    contacts = conversation.get("contacts")
    contact_list = contacts.get("contacts") if isinstance(contacts, dict) else contacts
    contact = next((c for c in contact_list or [] if isinstance(c, dict)), None)
    if contact is None:  # API 1.x
        user = conversation.get("user")
        contact = {"id": user.get("id"), "external_id": user.get("user_id")} if isinstance(user, dict) else {}
    message = conversation.get("source") or conversation.get("conversation_message")
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
        text, stamp = strip_html(dig(message, "body")), conversation.get("created_at")
    else:  # admin replies, closes, ratings: an event about the conversation, never customer text
        external_id = tagged("intercom", f"{conversation_id}:{topic}:{text_or_none(body.get('id'))}")
        kind, text, stamp = "journey_event", None, body.get("created_at")
    source_type = str(dig(message, "type") or "")
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


def twilio(body: dict[str, Json]) -> Canonical:
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
