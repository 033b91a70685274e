"""Contact records: Journeyline's own shape, Amazon Connect CTRs, Genesys Cloud conversations, and (in
`support`) Twilio TaskRouter events, Zendesk tickets and Intercom conversations."""

from __future__ import annotations

from services.ingest.adapters import support, vendors
from services.ingest.adapters.common import (
    AdapterError,
    Canonical,
    Json,
    check_fields,
    dig,
    join_text,
    meta,
    parse_time,
    pseudonym,
    require_object,
    scores,
    text_or_none,
)

_CONTACT_FIELDS = frozenset(
    {
        "contact_id", "channel", "started_at", "ended_at", "customer_id", "customer_phone", "segment",
        "queue", "agent_id", "agent_notes", "disposition", "wait_seconds", "handle_seconds", "hold_seconds",
        "transfers", "csat", "nps", "ces", "stage_hint", "metadata",
    }
)  # fmt: skip
_CONNECT_CHANNELS = {"VOICE": "call", "CHAT": "chat", "EMAIL": "email", "TASK": "other"}
_GENESYS_CHANNELS = {"voice": "call", "callback": "call", "email": "email", "chat": "chat"}
_SOCIAL_MESSAGE_TYPES = {"facebook", "twitter", "instagram", "line", "whatsapp"}


def adapt(payload: Json) -> list[Canonical]:
    record = require_object(payload, "contact record")
    if vendors.is_salesforce_case(record):  # before Connect: a Case has a ContactId too
        return [vendors.salesforce_case(record)]
    if "ContactId" in record:
        return [_amazon_connect(record)]
    if "conversationId" in record and "participants" in record:
        return [_genesys(record)]
    if support.is_twilio(record):
        return [support.twilio(record)]
    if support.is_zendesk(record):
        return [support.zendesk(record)]
    if support.is_intercom(record):
        return [support.intercom(record)]
    if vendors.is_freshdesk_ticket(record):
        return [vendors.freshdesk_ticket(record)]
    if vendors.is_twilio_message(record):
        return [vendors.twilio_message(record)]
    return [_contact(record)]


def _contact(record: dict[str, Json]) -> Canonical:
    """Journeyline's neutral contact record: agent notes, disposition, queue, wait and handle time."""
    check_fields(record, _CONTACT_FIELDS, "contact record")
    if not record.get("contact_id"):
        raise AdapterError("missing_field", "contact_id: required for a contact record")
    extra = record.get("metadata") or {}
    if not isinstance(extra, dict):
        raise AdapterError("invalid_field", "metadata: must be an object of strings")
    return {
        "external_id": text_or_none(record["contact_id"]),
        "channel": record.get("channel") or None,
        "kind": "contact",
        "occurred_at": parse_time(record.get("started_at"), "started_at"),
        "customer": {
            "id": text_or_none(record.get("customer_id")) or pseudonym(record.get("customer_phone")),
            "segment": text_or_none(record.get("segment")),
        },
        "text": text_or_none(record.get("agent_notes")),
        "scores": scores(csat=record.get("csat"), nps=record.get("nps"), ces=record.get("ces")),
        "stage_hint": text_or_none(record.get("stage_hint")),
        "metadata": {
            **extra,
            **meta(
                queue=record.get("queue"),
                disposition=record.get("disposition"),
                wait_seconds=record.get("wait_seconds"),
                handle_seconds=record.get("handle_seconds"),
                hold_seconds=record.get("hold_seconds"),
                transfers=record.get("transfers"),
                agent_id=record.get("agent_id"),
                ended_at=record.get("ended_at"),
                author_role="agent" if record.get("agent_notes") else None,
            ),
        },
    }


def _amazon_connect(ctr: dict[str, Json]) -> Canonical:
    """An Amazon Connect contact trace record; dispositions and post-call scores live in `Attributes`."""
    attributes = ctr.get("Attributes") or {}
    if not isinstance(attributes, dict):
        raise AdapterError("invalid_field", "Attributes: must be an object")
    agent = ctr.get("Agent") or {}
    handle = sum(
        float(agent.get(k) or 0)
        for k in ("AgentInteractionDuration", "AfterContactWorkDuration", "CustomerHoldDuration")
    )
    notes = attributes.get("agentNotes") or attributes.get("notes")
    return {
        "external_id": text_or_none(ctr["ContactId"]),
        "channel": _CONNECT_CHANNELS.get(str(ctr.get("Channel", "")).upper(), "call"),
        "kind": "contact",
        "occurred_at": parse_time(ctr.get("InitiationTimestamp"), "InitiationTimestamp"),
        "customer": {
            "id": text_or_none(attributes.get("customerId")) or pseudonym(dig(ctr, "CustomerEndpoint", "Address"))
        },
        "text": text_or_none(notes),
        "scores": scores(
            csat=attributes.get("postCallCsat") or attributes.get("csat"),
            nps=attributes.get("nps"),
            ces=attributes.get("ces"),
        ),
        "metadata": meta(
            vendor="amazon_connect",
            queue=dig(ctr, "Queue", "Name"),
            wait_seconds=dig(ctr, "Queue", "Duration"),
            handle_seconds=handle if agent else None,
            hold_seconds=agent.get("CustomerHoldDuration"),
            disposition=attributes.get("wrapCode") or attributes.get("disposition"),
            disconnect_reason=ctr.get("DisconnectReason"),
            initiation_method=ctr.get("InitiationMethod"),
            agent_id=agent.get("Username"),
            previous_contact_id=ctr.get("PreviousContactId"),
            author_role="agent" if notes else None,
        ),
    }


def _genesys(conversation: dict[str, Json]) -> Canonical:
    """A Genesys Cloud analytics conversation: the agent's wrap-up note is the text."""
    participants = [p for p in conversation.get("participants") or [] if isinstance(p, dict)]
    customer = next((p for p in participants if p.get("purpose") == "customer"), {})
    agent = next((p for p in participants if p.get("purpose") == "agent"), {})
    sessions = [s for p in (agent, customer) for s in p.get("sessions") or [] if isinstance(s, dict)]
    media = next((s.get("mediaType") for s in sessions if s.get("mediaType")), "voice")
    message_type = next((s.get("messageType") for s in sessions if s.get("messageType")), None)
    channel = "social" if media == "message" and message_type in _SOCIAL_MESSAGE_TYPES else None
    channel = channel or _GENESYS_CHANNELS.get(str(media), "chat" if media == "message" else "other")
    segments = [seg for s in sessions for seg in s.get("segments") or [] if isinstance(seg, dict)]
    wrapup = next((seg for seg in segments if seg.get("wrapUpCode") or seg.get("wrapUpNote")), {})
    talk_ms = sum(
        float(m.get("value") or 0)
        for s in sessions
        for m in s.get("metrics") or []
        if isinstance(m, dict) and m.get("name") in ("tTalk", "tAcw", "tHeld")
    )
    ani = next((s.get("ani") for s in customer.get("sessions") or [] if isinstance(s, dict)), None)
    return {
        "external_id": text_or_none(conversation["conversationId"]),
        "channel": channel,
        "kind": "contact",
        "occurred_at": parse_time(conversation.get("conversationStart"), "conversationStart"),
        "customer": {"id": text_or_none(customer.get("externalContactId")) or pseudonym(ani)},
        "text": join_text(wrapup.get("wrapUpNote")),
        "metadata": meta(
            vendor="genesys",
            direction=conversation.get("originatingDirection"),
            queue=wrapup.get("queueId") or next((seg.get("queueId") for seg in segments if seg.get("queueId")), None),
            disposition=wrapup.get("wrapUpCode"),
            handle_seconds=round(talk_ms / 1000, 1) if talk_ms else None,
            agent_id=agent.get("userId"),
            ended_at=conversation.get("conversationEnd"),
            author_role="agent" if wrapup.get("wrapUpNote") else None,
        ),
    }
