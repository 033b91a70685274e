"""More tools' payloads, as their vendors document them: Salesforce Service Cloud Cases, Freshdesk tickets, Twilio
Programmable Messaging (SMS and WhatsApp), Messenger and Instagram messaging webhooks; and the survey tools that
only notify (Qualtrics, SurveyMonkey), which are refused with a reason rather than stored without their answers."""

from __future__ import annotations

from services.ingest.adapters.common import (
    AdapterError,
    Canonical,
    Json,
    dig,
    join_text,
    meta,
    parse_time,
    pseudonym,
    strip_html,
    tagged,
    text_or_none,
)

_SALESFORCE_ORIGINS = {"phone": "call", "email": "email", "chat": "chat", "web": "other", "messaging": "chat"}
# Freshdesk `source`: 1 e-mail, 2 portal, 3 phone, 7 chat, 9 feedback widget, 10 outbound e-mail.
_FRESHDESK_SOURCES = {1: "email", 2: "other", 3: "call", 7: "chat", 9: "other", 10: "email"}


def is_salesforce_case(body: dict[str, Json]) -> bool:
    return "CaseNumber" in body and "Id" in body


def salesforce_case(case: dict[str, Json]) -> Canonical:
    """A Salesforce Case (the sObject as REST, Outbound Messages and Change Data Capture carry its fields)."""
    origin = str(case.get("Origin") or "").lower()
    return {
        "external_id": tagged("sf", case.get("Id")),
        "channel": _SALESFORCE_ORIGINS.get(origin, "other"),
        "kind": "contact",
        "occurred_at": parse_time(case.get("CreatedDate"), "CreatedDate"),
        "customer": {"id": text_or_none(case.get("ContactId")) or text_or_none(case.get("AccountId"))},
        "text": join_text(case.get("Subject"), case.get("Description"), case.get("Comments")),
        "metadata": meta(
            vendor="salesforce", case_number=case.get("CaseNumber"), reason=case.get("Reason"),
            type=case.get("Type"), status=case.get("Status"), priority=case.get("Priority"),
            escalated=case.get("IsEscalated"),
        ),
    }  # fmt: skip


def is_freshdesk_ticket(body: dict[str, Json]) -> bool:
    return (
        "requester_id" in body and ("description_text" in body or "description" in body) and "id" in body
    ) or isinstance(body.get("helpdesk_ticket"), dict)


def freshdesk_ticket(ticket: dict[str, Json]) -> Canonical:
    """A Freshdesk ticket: API v2 (`id`; `description` is HTML, `description_text` the same as text) or API v1
    (`{"helpdesk_ticket": …}`; `display_id` is the number v2 calls `id`, `description` is text and
    `description_html` the HTML). The same ticket has the same id in both."""
    if isinstance(ticket.get("helpdesk_ticket"), dict):
        old = ticket["helpdesk_ticket"]
        ticket = {
            **old, "id": old.get("display_id") or old.get("id"),
            "description_text": old.get("description"), "description": old.get("description_html"),
        }  # fmt: skip
    source = ticket.get("source")
    return {
        "external_id": tagged("freshdesk", ticket.get("id")),
        "channel": _FRESHDESK_SOURCES.get(source, "other") if isinstance(source, int) else "other",
        "kind": "contact",
        "occurred_at": parse_time(ticket.get("created_at"), "created_at"),
        "customer": {"id": tagged("freshdesk", ticket.get("requester_id"))},
        "text": join_text(ticket.get("subject"), ticket.get("description_text") or strip_html(ticket.get("description"))),
        "metadata": meta(
            vendor="freshdesk", status=ticket.get("status"), priority=ticket.get("priority"),
            tags=",".join(str(t) for t in ticket.get("tags") or [] if isinstance(t, str)) or None,
            group_id=ticket.get("group_id"),
        ),
    }  # fmt: skip


def is_twilio_message(body: dict[str, Json]) -> bool:
    return "MessageSid" in body or "SmsMessageSid" in body


def twilio_message(body: dict[str, Json]) -> Canonical:
    """An incoming SMS or WhatsApp message (Twilio Programmable Messaging's form-encoded webhook)."""
    sender = str(body.get("From") or "")
    whatsapp = sender.startswith("whatsapp:")
    return {
        "external_id": tagged("twilio", body.get("MessageSid") or body.get("SmsMessageSid")),
        "channel": "chat",
        "kind": "feedback",
        "customer": {"id": pseudonym(sender.removeprefix("whatsapp:"))},
        "text": text_or_none(body.get("Body")),
        "metadata": meta(
            vendor="twilio", medium="whatsapp" if whatsapp else "sms", to=body.get("To"),
            country=body.get("FromCountry"), media_count=body.get("NumMedia"),
        ),
    }  # fmt: skip


def meta_messages(platform: str, entry: dict[str, Json]) -> list[Canonical]:
    """Messenger (`object: page`) or Instagram messaging events of one webhook entry: messages customers wrote.
    Echoes of the page's own messages, deliveries, reads and reactions carry no feedback and are skipped."""
    out: list[Canonical] = []
    for event in dig(entry, "messaging") or []:
        message = dig(event, "message")
        if not isinstance(message, dict) or message.get("is_echo") or not text_or_none(message.get("text")):
            continue
        out.append(
            {
                "external_id": tagged(platform, message.get("mid")),
                "channel": "chat",
                "kind": "feedback",
                "occurred_at": parse_time(dig(event, "timestamp") and dig(event, "timestamp") / 1000, "timestamp"),
                "customer": {"id": tagged(platform, dig(event, "sender", "id"))},
                "text": text_or_none(message.get("text")),
                "metadata": meta(platform=platform, medium="messaging", page_id=dig(event, "recipient", "id")),
            }
        )
    return out


def refuse_notification(body: dict[str, Json]) -> None:
    """Qualtrics and SurveyMonkey webhooks say a response exists, not what it says: refuse them with a reason
    (their answers must be fetched from the vendor's API and posted as survey responses)."""
    if "ResponseID" in body and str(body.get("Topic", "")).startswith("surveyengine."):
        raise AdapterError(
            "needs_fetch",
            "a Qualtrics event subscription carries no answers: fetch the response by ResponseID and post it as a "
            "survey response (response_id, nps/csat/ces, verbatim)",
        )
    if body.get("object_type") == "response" and isinstance(body.get("resources"), dict):
        raise AdapterError(
            "needs_fetch",
            "a SurveyMonkey webhook carries no answers: fetch /v3/surveys/{id}/responses/{id}/details and post it "
            "as a survey response",
        )
