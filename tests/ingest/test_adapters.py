"""Adapters on realistic payloads (the vendors' documented field names): the canonical event they give."""

from __future__ import annotations

import hashlib

from services.ingest.adapters.common import DEVELOPMENT_PSEUDONYM_KEY, set_pseudonym_key
from services.ingest.examples import EXAMPLES
from services.ingest.models import Adapter
from shared.models import stable_event_id
from tests.ingest.factories import NOW, data, one, rejected, run, source

CONNECT_CTR = {
    "AWSAccountId": "210987654321",
    "AWSContactTraceRecordFormatVersion": "2017-03-10",
    "ContactId": "5f1c2a9e-7b3d-4e11-9c0a-2d4e6f8a1b3c",
    "InitialContactId": None,
    "Channel": "VOICE",
    "InitiationMethod": "INBOUND",
    "InitiationTimestamp": "2025-02-11T09:14:02Z",
    "DisconnectTimestamp": "2025-02-11T09:22:47Z",
    "LastUpdateTimestamp": "2025-02-11T09:24:10Z",
    "CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": "+447700900123"},
    "Queue": {"Name": "Billing", "EnqueueTimestamp": "2025-02-11T09:14:40Z", "Duration": 74},
    "Agent": {
        "Username": "j.okafor",
        "AgentInteractionDuration": 401,
        "AfterContactWorkDuration": 55,
        "CustomerHoldDuration": 30,
    },
    "DisconnectReason": "CUSTOMER_DISCONNECT",
    "Attributes": {"customerId": "CUS-88412", "wrapCode": "REFUND_ISSUED", "postCallCsat": "4"},
}
GENESYS = {
    "conversationId": "0c9d3f5e-2a11-4c7e-9d51-7e0b2f6a9c10",
    "conversationStart": "2025-03-04T15:01:12.331Z",
    "conversationEnd": "2025-03-04T15:13:40.002Z",
    "originatingDirection": "inbound",
    "participants": [
        {
            "purpose": "customer",
            "externalContactId": "ec-7731",
            "sessions": [{"mediaType": "voice", "ani": "tel:+15555550142"}],
        },
        {
            "purpose": "agent",
            "userId": "u-19",
            "sessions": [
                {
                    "mediaType": "voice",
                    "metrics": [{"name": "tTalk", "value": 512000}],
                    "segments": [
                        {
                            "segmentType": "wrapup",
                            "queueId": "q-billing",
                            "wrapUpCode": "7f3e-wrap",
                            "wrapUpNote": "Late fee disputed, waived.",
                        }
                    ],
                }
            ],
        },
    ],
}
X_POST = {
    "data": {
        "id": "1893342211009988771",
        "text": "@AcmeHelp third day without broadband, nobody calls back",
        "author_id": "99001122",
        "created_at": "2025-03-05T07:12:44.000Z",
        "conversation_id": "1893342211009988771",
        "in_reply_to_user_id": "55667788",
        "lang": "en",
    }
}
INSTAGRAM = {
    "object": "instagram",
    "entry": [
        {
            "id": "17841400000000001",
            "time": 1741163500,
            "changes": [
                {
                    "field": "comments",
                    "value": {
                        "id": "17900000000000042",
                        "text": "Sizing chart is way off",
                        "from": {"id": "2100000000000005", "username": "kiki.runs"},
                        "media": {"id": "18000000000000077", "media_product_type": "FEED"},
                    },
                }
            ],
        }
    ],
}
REDDIT = {
    "kind": "t1",
    "data": {
        "id": "kq9z1ab", "name": "t1_kq9z1ab", "author": "throwaway_42", "author_fullname": "t2_9abc1",
        "body": "Their app logs me out every hour.", "created_utc": 1741170000.0, "link_id": "t3_1b2c3d",
        "parent_id": "t3_1b2c3d", "subreddit": "AcmeBank", "score": 12,
    },
}  # fmt: skip
TRUSTPILOT = {
    "events": [
        {
            "eventName": "service-review-created",
            "version": "1",
            "eventData": {
                "id": "67c8a1f2e4b0c1d2e3f4a5b6", "stars": 2, "title": "Slow refund",
                "text": "Took three weeks to get my money back.", "language": "en",
                "createdAt": "2025-03-05T12:00:00.000Z", "referenceId": "ORD-20931", "isVerified": True,
                "consumer": {"id": "5e1f00aa", "name": "M. Ortiz"},
            },
        }
    ]
}  # fmt: skip
TYPEFORM = {
    "event_id": "01JNXQ4R7T",
    "event_type": "form_response",
    "form_response": {
        "form_id": "aB3dE5",
        "token": "q8w7e6r5t4y3",
        "landed_at": "2025-03-06T09:00:01Z",
        "submitted_at": "2025-03-06T09:01:40Z",
        "hidden": {"customer_id": "CUS-4410", "stage": "onboarding"},
        "calculated": {"score": 0},
        "definition": {"id": "aB3dE5", "title": "Onboarding pulse", "fields": []},
        "answers": [
            {"type": "number", "number": 6, "field": {"id": "nPsQ1", "ref": "nps", "type": "nps"}},
            {
                "type": "text",
                "text": "Setup took two support calls",
                "field": {"id": "txT2", "ref": "why", "type": "long_text"},
            },
        ],
    },
}


def test_amazon_connect_ctr_becomes_a_call_contact_with_queue_wait_handle_and_wrap_code() -> None:
    event = one(CONNECT_CTR, Adapter.call_centre)
    assert event["channel"] == "call" and event["kind"] == "contact"
    assert event["external_id"] == "5f1c2a9e-7b3d-4e11-9c0a-2d4e6f8a1b3c"
    assert event["id"] == stable_event_id("acme-tools", "5f1c2a9e-7b3d-4e11-9c0a-2d4e6f8a1b3c")
    assert event["occurred_at"].startswith("2025-02-11T09:14:02")
    assert event["customer"]["id"] == "CUS-88412"
    assert event["scores"]["csat"] == 4
    meta = event["metadata"]
    assert meta["queue"] == "Billing" and meta["wait_seconds"] == "74" and meta["disposition"] == "REFUND_ISSUED"
    assert meta["handle_seconds"] == "486" and meta["disconnect_reason"] == "CUSTOMER_DISCONNECT"


def test_connect_without_customer_attribute_uses_a_pseudonym_never_the_phone_number() -> None:
    ctr = {**CONNECT_CTR, "Attributes": {"wrapCode": "NO_ACTION"}}
    event = one(ctr, Adapter.call_centre)
    assert event["customer"]["id"].startswith("p:")
    assert "447700900123" not in str(event)
    # keyed: not the plain hash of the number (which anyone could compute for every number), and another key
    # gives another pseudonym
    assert hashlib.sha256(b"+447700900123").hexdigest()[:24] not in event["customer"]["id"]
    set_pseudonym_key("another-key")
    try:
        assert one(ctr, Adapter.call_centre)["customer"]["id"] != event["customer"]["id"]
    finally:
        set_pseudonym_key(DEVELOPMENT_PSEUDONYM_KEY)


def test_genesys_conversation_uses_the_wrap_up_note_as_agent_text() -> None:
    event = one(GENESYS, Adapter.call_centre)
    assert event["channel"] == "call" and event["text"] == "Late fee disputed, waived."
    assert event["customer"]["id"] == "ec-7731"
    assert event["metadata"]["disposition"] == "7f3e-wrap" and event["metadata"]["author_role"] == "agent"
    assert event["metadata"]["handle_seconds"] == "512"


def test_journeyline_contact_record_carries_notes_disposition_queue_wait_and_handle_time() -> None:
    event = one(EXAMPLES["call_centre"]["value"], Adapter.call_centre)
    assert event["kind"] == "contact" and event["text"].startswith("Customer disputed late fee")
    assert event["metadata"]["disposition"] == "FEE_WAIVED" and event["metadata"]["handle_seconds"] == "486"


def test_contact_record_is_strict_about_unknown_fields_and_needs_an_id() -> None:
    assert rejected({"contact_id": "c1", "agnet_notes": "typo"}, Adapter.call_centre).reason == "unknown_field"
    assert rejected({"agent_notes": "no id"}, Adapter.call_centre).reason == "missing_field"


def test_x_post_becomes_social_feedback_from_the_author() -> None:
    event = one(X_POST, Adapter.social)
    assert event["channel"] == "social" and event["external_id"] == "x:1893342211009988771"
    assert event["customer"]["id"] == "x:99001122" and event["metadata"]["language"] == "en"
    assert event["metadata"]["reply_to"] == "55667788"


def test_facebook_feed_and_instagram_comments_share_the_meta_envelope() -> None:
    fb = one(EXAMPLES["facebook"]["value"], Adapter.social)
    assert fb["text"] == "Delivery was 4 days late again." and fb["metadata"]["platform"] == "facebook"
    assert fb["metadata"]["reply_to"] == "1029384756_555" and fb["occurred_at"].startswith("2025-03-05T08:23:10")
    ig = one(INSTAGRAM, Adapter.social)
    assert ig["text"] == "Sizing chart is way off" and ig["metadata"]["author_handle"] == "kiki.runs"
    assert ig["occurred_at"].startswith("2025-03-05T08:31:40")  # no comment time: the entry's


def test_a_webhook_with_several_changes_gives_one_event_per_change_with_its_part() -> None:
    change = INSTAGRAM["entry"][0]["changes"][0]  # type: ignore[index]
    second = {"field": "comments", "value": {**change["value"], "id": "179000000000000043", "text": "Love it"}}
    payload = {"object": "instagram", "entry": [{**INSTAGRAM["entry"][0], "changes": [change, second]}]}  # type: ignore[index]
    records, rejections = run(payload, Adapter.social)
    assert not rejections and [(r.index, r.part) for r in records] == [(0, 0), (0, 1)]
    assert len({r.id for r in records}) == 2


def test_reddit_comment_and_the_neutral_social_mention() -> None:
    event = one(REDDIT, Adapter.social)
    assert event["external_id"] == "t1_kq9z1ab" and event["metadata"]["subreddit"] == "AcmeBank"
    mention = one(
        {
            "post_id": "991",
            "platform": "mastodon",
            "author_handle": "@dana",
            "text": "No signal downtown",
            "reply_to": "990",
        },
        Adapter.social,
    )
    assert mention["customer"]["id"] == "handle:dana" and mention["metadata"]["reply_to"] == "990"


def test_app_store_review_rating_becomes_csat_and_title_joins_the_body() -> None:
    event = one(EXAMPLES["review"]["value"], Adapter.review)
    assert event["channel"] == "review" and event["scores"]["csat"] == 2
    assert event["text"] == "Crashes on launch\n\nSince 5.4 it crashes when I open statements."
    assert event["occurred_at"].startswith("2025-03-03T05:17:09")  # -08:00 normalised to UTC
    assert event["metadata"]["territory"] == "GBR" and event["metadata"]["score_source"] == "stars"


def test_google_play_review_splits_the_tab_separated_title_and_keeps_the_app_version() -> None:
    event = one(EXAMPLES["google_play"]["value"], Adapter.review)
    assert event["text"] == "Widget broke\n\nStopped updating after last update"
    assert event["scores"]["csat"] == 3 and event["metadata"]["app_version"] == "5.4.1"
    assert event["occurred_at"].startswith("2025-03-04T09:20:00")


def test_trustpilot_stars_out_of_range_are_rejected_not_clamped() -> None:
    event = one(TRUSTPILOT, Adapter.review)
    assert event["scores"]["csat"] == 2 and event["metadata"]["reference_id"] == "ORD-20931"
    bad = {"events": [{**TRUSTPILOT["events"][0], "eventData": {**TRUSTPILOT["events"][0]["eventData"], "stars": 9}}]}  # type: ignore[index]
    assert rejected(bad, Adapter.review).reason == "score_out_of_range"


def test_typeform_nps_answer_and_verbatim_and_hidden_stage() -> None:
    event = one(TYPEFORM, Adapter.survey)
    assert event["kind"] == "survey_response" and event["scores"]["nps"] == 6
    assert event["text"] == "Setup took two support calls" and event["stage_hint"] == "onboarding"
    assert event["customer"]["id"] == "CUS-4410"


def test_delighted_score_goes_to_the_survey_type() -> None:
    event = one(EXAMPLES["delighted"]["value"], Adapter.survey)
    assert event["scores"] == {"csat": None, "nps": 3, "ces": None}
    assert event["customer"]["id"] == "CUS-9910" and "ana@example.org" not in str(event)


def test_survey_response_scores_are_range_checked_per_scale() -> None:
    ok = one({"response_id": "r1", "nps": 0, "csat": 5, "ces": 7, "verbatim": "fine"}, Adapter.survey)
    assert ok["scores"] == {"nps": 0, "csat": 5, "ces": 7}
    for field, value in (("nps", 11), ("csat", 0), ("ces", 8), ("nps", -1)):
        assert rejected({"response_id": "r1", field: value}, Adapter.survey).reason == "score_out_of_range", field
    assert rejected({"response_id": "r1", "nps": 7.5}, Adapter.survey).reason == "score_out_of_range"
    assert rejected({"response_id": "r1"}, Adapter.survey).reason == "missing_field"


def test_every_openapi_example_is_accepted_by_its_adapter() -> None:
    adapters = {
        "generic": Adapter.generic, "batch": Adapter.generic, "call_centre": Adapter.call_centre,
        "amazon_connect": Adapter.call_centre, "zendesk": Adapter.call_centre, "social": Adapter.social, "facebook": Adapter.social,
        "review": Adapter.review, "google_play": Adapter.review, "survey": Adapter.survey, "delighted": Adapter.survey,
    }  # fmt: skip
    assert set(adapters) == set(EXAMPLES)
    for name, example in EXAMPLES.items():
        records, rejections = run(example["value"], adapters[name], source("demo"))
        assert records and not rejections, (name, rejections)
        assert all(data(r)["received_at"].startswith(NOW.date().isoformat()) for r in records)


TWILIO_FORM = (
    b"EventType=task.completed&Sid=EV5b0e7c1d&WorkspaceSid=WS2c4e&ResourceType=task&TaskSid=WT3a91f0"
    b"&Timestamp=1741100000&TaskAge=642&TaskAssignmentStatus=completed"
    b"&TaskCompletedReason=wrapup%3A+billing_resolved&TaskQueueName=Billing&TaskChannelUniqueName=voice"
    b"&TaskAttributes=%7B%22from%22%3A%22%2B15555550199%22%2C%22conversations%22%3A%7B%22outcome%22%3A%22Resolved"
    b"%22%2C%22communication_channel%22%3A%22Call%22%7D%2C%22customers%22%3A%7B%22external_id%22%3A%22CUS-5521%22%7D%7D"
)
ZENDESK_COMMENT = {
    "type": "zen:event-type:ticket.comment_added",
    "id": "01JNQ8Z3KX",
    "time": "2025-01-20T10:02:11Z",
    "account_id": 9012345,
    "zendesk_event_version": "2022-11-06",
    "subject": "zen:ticket:48213",
    "detail": {
        "id": "48213", "requester_id": "3918273", "status": "OPEN", "subject": "Charged twice",
        "tags": ["billing"], "via": {"channel": "email"}, "created_at": "2025-01-18T08:00:00Z",
    },
    "event": {"comment": {"id": "9981", "body": "Still no refund after 10 days.", "is_public": True, "author": {"id": "3918273", "is_staff": False}}},
}  # fmt: skip
INTERCOM = {
    "type": "notification_event",
    "id": "notif_4c1e9b2a",
    "topic": "conversation.user.created",
    "app_id": "x1y2z3",
    "created_at": 1738660000,
    "data": {
        "type": "notification_event_data",
        "item": {
            "type": "conversation",
            "id": "215467",
            "created_at": 1738659990,
            "source": {
                "type": "conversation",
                "delivered_as": "customer_initiated",
                "body": "<p>Export button does nothing on Safari</p>",
                "author": {"type": "user", "id": "65b1aa01"},
            },
            "contacts": {"contacts": [{"type": "contact", "id": "65b1aa01", "external_id": "CUS-2231"}]},
            "conversation_rating": {"rating": 2, "remark": "took 2 days"},
        },
    },
}


def test_twilio_taskrouter_form_callback_becomes_a_contact() -> None:
    records, rejections = run(TWILIO_FORM, Adapter.call_centre, fmt="form")
    assert not rejections and len(records) == 1
    event = data(records[0])
    assert event["external_id"] == "WT3a91f0" and event["kind"] == "contact" and event["channel"] == "call"
    assert event["customer"]["id"] == "CUS-5521" and event["occurred_at"].startswith("2025-03-04T14:53:20")
    assert event["metadata"]["disposition"] == "wrapup: billing_resolved" and event["metadata"]["outcome"] == "Resolved"
    created = one(
        {"EventType": "task.created", "TaskSid": "WT3a91f0", "TaskChannelUniqueName": "sms"}, Adapter.call_centre
    )
    assert created["kind"] == "journey_event" and created["external_id"] == "WT3a91f0:task.created"


def test_zendesk_comment_webhook_is_customer_feedback_and_staff_text_is_flagged() -> None:
    event = one(ZENDESK_COMMENT, Adapter.call_centre)
    assert event["external_id"] == "zendesk:comment:9981" and event["kind"] == "feedback"
    assert event["channel"] == "email" and event["text"] == "Still no refund after 10 days."
    assert event["customer"]["id"] == "zendesk:3918273" and event["metadata"]["tags"] == "billing"
    staff = {
        **ZENDESK_COMMENT,
        "event": {"comment": {"id": "9982", "body": "Refund issued.", "author": {"is_staff": True}}},
    }
    agent = one(staff, Adapter.call_centre)
    assert agent["kind"] == "contact" and agent["metadata"]["author_role"] == "agent"


def test_intercom_conversation_keeps_the_customer_message_and_rating() -> None:
    event = one(INTERCOM, Adapter.call_centre)
    assert event["external_id"] == "intercom:215467" and event["channel"] == "chat"
    assert event["text"] == "Export button does nothing on Safari" and event["scores"]["csat"] == 2
    assert event["customer"]["id"] == "CUS-2231" and event["metadata"]["rating_remark"] == "took 2 days"
    closed = one({**INTERCOM, "topic": "conversation.admin.closed"}, Adapter.call_centre)
    assert closed["kind"] == "journey_event" and closed["text"] is None


def test_malformed_twilio_attributes_are_a_clear_rejection() -> None:
    bad = {"EventType": "task.completed", "TaskSid": "WT1", "TaskAttributes": "{not json"}
    assert rejected(bad, Adapter.call_centre).reason == "invalid_field"
