"""More vendors' payloads, shaped as their documentation shows them: what each becomes, and what is refused.

Sources of the shapes: Salesforce Case object reference (developer.salesforce.com, sforce_api_objects_case),
Freshdesk API v2 tickets (developers.freshdesk.com/api/#tickets), Twilio Programmable Messaging webhook
parameters (twilio.com/docs/messaging/guides/webhook-request), Messenger Platform `messages` webhook
(developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages), Instagram messaging webhooks,
X API v2 recent search response (developer.x.com/en/docs/x-api/tweets/search), Qualtrics event subscriptions
(surveyengine.completedResponse), SurveyMonkey v3 webhooks (response_completed)."""

from __future__ import annotations

from urllib.parse import urlencode

from services.ingest.models import Adapter
from tests.ingest.factories import one, rejected, run

SALESFORCE_CASE = {
    "Id": "5003h00000Qx7AbAAJ", "CaseNumber": "00102938", "Origin": "Phone", "Reason": "Billing", "Status": "Closed",
    "Priority": "High", "Subject": "Direct debit failed", "Description": "Caller says bank rejected payment twice.",
    "ContactId": "0033h00000LmN1xAAF", "AccountId": "0013h00000AbC9zAAB",
    "CreatedDate": "2025-02-02T08:41:00.000+0000", "ClosedDate": "2025-02-02T09:05:12.000+0000",
}  # fmt: skip
FRESHDESK_TICKET = {
    "id": 7781, "subject": "Cannot reset password", "description": "<div>Reset email <b>never</b> arrives.</div>",
    "description_text": "Reset email never arrives.", "source": 7, "status": 2, "priority": 2,
    "requester_id": 48000123456, "created_at": "2025-03-01T11:20:00Z", "tags": ["login"],
    "custom_fields": {"cf_product": "Mobile"},
}  # fmt: skip
SMS = {
    "ToCountry": "GB", "SmsMessageSid": "SM7f0c8e", "NumMedia": "0", "SmsSid": "SM7f0c8e", "SmsStatus": "received",
    "Body": "My parcel was left in the rain again", "To": "+447700900000", "NumSegments": "1",
    "MessageSid": "SM7f0c8e", "AccountSid": "AC1234", "From": "+447700900123", "FromCountry": "GB", "ApiVersion": "2010-04-01",
}  # fmt: skip
MESSENGER = {
    "object": "page",
    "entry": [{"id": "PAGE_ID", "time": 1741163000123, "messaging": [
        {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1741162999000,
         "message": {"mid": "m_abc", "text": "Where is my refund?"}},
        {"sender": {"id": "PAGE_ID"}, "recipient": {"id": "PSID_1"}, "timestamp": 1741163000000,
         "message": {"mid": "m_echo", "text": "We are on it", "is_echo": True}},
        {"sender": {"id": "PSID_1"}, "recipient": {"id": "PAGE_ID"}, "timestamp": 1741163000500,
         "read": {"watermark": 1741163000000}},
    ]}],
}  # fmt: skip
INSTAGRAM_DM = {
    "object": "instagram",
    "entry": [{"id": "IG_ID", "time": 1741163000, "messaging": [
        {"sender": {"id": "IGSID_9"}, "recipient": {"id": "IG_ID"}, "timestamp": 1741162999000,
         "message": {"mid": "aWdf", "text": "The app keeps logging me out"}},
    ]}],
}  # fmt: skip
X_SEARCH = {
    "data": [
        {
            "id": "1895",
            "text": "@acme my router died again",
            "author_id": "42",
            "created_at": "2025-03-05T09:00:00.000Z",
        },
        {"id": "1896", "text": "@acme 3 hours on hold", "author_id": "43", "created_at": "2025-03-05T09:01:00.000Z"},
    ],
    "includes": {"users": [{"id": "42", "username": "dana"}]},
    "meta": {"newest_id": "1896", "oldest_id": "1895", "result_count": 2},
}


def test_salesforce_case_is_a_contact_with_its_origin_reason_and_text() -> None:
    event = one(SALESFORCE_CASE, Adapter.call_centre)
    assert event["external_id"] == "sf:5003h00000Qx7AbAAJ" and event["channel"] == "call" and event["kind"] == "contact"
    assert event["text"] == "Direct debit failed\n\nCaller says bank rejected payment twice."
    assert event["metadata"]["reason"] == "Billing" and event["metadata"]["case_number"] == "00102938"
    assert event["occurred_at"].startswith("2025-02-02T08:41:00")


def test_freshdesk_ticket_maps_its_numeric_source_and_prefers_the_text_description() -> None:
    event = one(FRESHDESK_TICKET, Adapter.call_centre)
    assert event["channel"] == "chat" and event["external_id"] == "freshdesk:7781"
    assert event["text"] == "Cannot reset password\n\nReset email never arrives."
    html_only = {k: v for k, v in FRESHDESK_TICKET.items() if k != "description_text"}
    assert one(html_only, Adapter.call_centre)["text"] == "Cannot reset password\n\nReset email never arrives."


def test_sms_and_whatsapp_messages_from_a_form_encoded_webhook() -> None:
    records, rejections = run(urlencode(SMS).encode(), Adapter.call_centre, fmt="form")
    assert not rejections and len(records) == 1
    whatsapp = one({**SMS, "From": "whatsapp:+447700900123", "MessageSid": "SMwa"}, Adapter.call_centre)
    sms = one(SMS, Adapter.call_centre)
    assert sms["metadata"]["medium"] == "sms" and whatsapp["metadata"]["medium"] == "whatsapp"
    assert sms["customer"]["id"] == whatsapp["customer"]["id"]  # the same person on both
    assert "447700900123" not in str(sms) and sms["text"] == "My parcel was left in the rain again"


def test_messenger_and_instagram_messages_skip_echoes_and_reads() -> None:
    records, rejections = run(MESSENGER, Adapter.social)
    assert not rejections and len(records) == 1
    event = one(MESSENGER, Adapter.social)
    assert event["text"] == "Where is my refund?" and event["customer"]["id"] == "facebook:PSID_1"
    assert event["channel"] == "chat" and event["occurred_at"].startswith("2025-03-05")
    assert one(INSTAGRAM_DM, Adapter.social)["customer"]["id"] == "instagram:IGSID_9"


def test_an_x_search_result_is_a_batch_of_posts() -> None:
    records, rejections = run(X_SEARCH, Adapter.social)
    assert not rejections and [r.part for r in records] == [0, 1]


def test_notification_only_survey_webhooks_are_refused_with_a_reason() -> None:
    qualtrics = {
        "Topic": "surveyengine.completedResponse.SV_3kLm9PqR", "Status": "Complete", "SurveyID": "SV_3kLm9PqR",
        "ResponseID": "R_1a2B3c4D5e6F", "RecipientID": "MLRP_9xYz", "CompletedDate": "2025-03-06 14:02:33",
    }  # fmt: skip
    monkey = {
        "name": "cx-hook", "event_type": "response_completed", "event_id": "90017", "object_type": "response",
        "object_id": "11482299341", "event_datetime": "2025-03-06T10:44:12.000000+00:00",
        "resources": {"respondent_id": "11482299341", "survey_id": "401122"},
    }  # fmt: skip
    for payload in (qualtrics, monkey):
        refusal = rejected(payload, Adapter.survey)
        assert refusal.reason == "needs_fetch" and "fetch" in refusal.detail


def test_an_x_api_v1_status_is_read_as_well_as_a_v2_post() -> None:
    status = {
        "created_at": "Wed Mar 05 09:00:00 +0000 2025", "id": 1895, "id_str": "1895",
        "full_text": "@acme my router died again", "truncated": False, "lang": "en",
        "user": {"id": 42, "id_str": "42", "screen_name": "dana"}, "in_reply_to_status_id_str": None,
    }  # fmt: skip
    event = one(status, Adapter.social)
    assert event["external_id"] == "x:1895" and event["customer"]["id"] == "x:42"
    assert event["text"] == "@acme my router died again" and event["occurred_at"].startswith("2025-03-05T09:00:00")
    v2 = one(X_SEARCH["data"][0], Adapter.social)
    assert (v2["external_id"], v2["customer"]["id"]) == (event["external_id"], event["customer"]["id"])
