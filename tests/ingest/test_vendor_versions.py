"""Each vendor's payload in the documented versions that still reach a webhook or an import, not only the newest:
field names move between versions and optional fields are often absent. The payloads are the vendors' published
examples (or SDK/connector test fixtures that copy real deliveries), trimmed only of fields the adapter ignores;
each is cited where it is defined. The point of every test: the same comment, conversation, response or review
gets the same event id whichever version delivered it (so a source that moves from one to the other, or replays
an import next to its webhook, never double-counts), and a payload missing its optional fields is still accepted."""

from __future__ import annotations

import copy
from typing import Any

from services.ingest.models import Adapter
from shared.models import stable_event_id
from tests.ingest.factories import one, rejected, run

# --- Zendesk ------------------------------------------------------------------------------------------------------

# Zendesk webhooks, "Ticket events" (https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/),
# `zen:event-type:ticket.comment_added`, event version 2022-11-06. The documented example carries only some of the
# `detail` properties (no requester_id, no via): this is it, with the comment written by the customer.
ZENDESK_WEBHOOK_COMMENT_MINIMAL: dict[str, Any] = {
    "account_id": 22129848,
    "detail": {
        "id": "5158", "subject": "Cannot login to mobile app", "status": "OPEN", "priority": "HIGH",
        "created_at": "2025-01-08T10:12:07Z", "updated_at": "2025-01-08T14:25:30Z",
    },
    "event": {
        "comment": {
            "id": 9876543210, "body": "I still cannot log in on the app.", "is_public": True,
            "author": {"id": 8447388090495, "is_staff": False, "name": "Jane Customer"},
        }
    },
    "id": "d4f5c389-8f4a-4c2e-a1b9-8e4f39c71d52",
    "subject": "zen:ticket:5158",
    "time": "2025-01-08T14:25:30.123456789Z",
    "type": "zen:event-type:ticket.comment_added",
    "zendesk_event_version": "2022-11-06",
}  # fmt: skip
# The same event with the other documented `detail` properties (requester_id, via.channel, tags) present.
ZENDESK_WEBHOOK_COMMENT_FULL = copy.deepcopy(ZENDESK_WEBHOOK_COMMENT_MINIMAL)
ZENDESK_WEBHOOK_COMMENT_FULL["detail"].update(requester_id="8447388090495", via={"channel": "web"}, tags=["mobile"])

# Zendesk Events Connector for Amazon EventBridge, "Ticket events" (https://developer.zendesk.com/api-reference/
# amazon-eventbridge/tickets/), schema `meta.version` 1.0, "Support Ticket: Comment Created": the envelope is the
# documented one; the comment object is as in AWS's Zendesk EventBridge sample fixture (id, body, is_public,
# author {id, name, is_staff}). The same comment as above, delivered the other way.
ZENDESK_EVENTBRIDGE_COMMENT: dict[str, Any] = {
    "version": "0",
    "id": "22ead012-a8fe-48bc-b6ad-11e1e2c09524",
    "detail-type": "Support Ticket: Comment Created",
    "source": "aws.partner/zendesk.com/9242270/default",
    "account": "123456789012",
    "time": "2025-01-08T14:25:31Z",
    "region": "us-east-1",
    "resources": ["Support Ticket"],
    "detail": {
        "ticket_event": {
            "meta": {
                "version": "1.0", "occurred_at": "2025-01-08T14:25:30.465719851Z", "ref": "1-1234567890",
                "sequence": {"id": "CE4A698AF24F35B3208649C6951E000E", "position": 1, "total": 1},
                "actor_id": 8447388090495,
            },
            "type": "Comment Created",
            "comment": {
                "id": 9876543210, "body": "I still cannot log in on the app.", "is_public": True,
                "author": {"id": 8447388090495, "name": "Jane Customer", "is_staff": False},
            },
            "ticket": {
                "id": 5158, "created_at": "2025-01-08T10:12:07Z", "updated_at": "2025-01-08T14:25:30Z",
                "type": "question", "priority": "high", "status": "open", "requester_id": 8447388090495,
                "submitter_id": 8447388090495, "assignee_id": None, "organization_id": None, "group_id": 98738,
                "brand_id": 123, "form_id": 6876543, "external_id": None, "tags": ["mobile"],
                "via": {"channel": "web"},
            },
        }
    },
}  # fmt: skip

# Zendesk webhooks, "Messaging events" (https://developer.zendesk.com/api-reference/webhooks/event-types/
# messaging-events/), `zen:event-type:messaging_ticket.message_added`, event version 2022-11-06: the documented
# example (a system actor, the answer bot), verbatim.
ZENDESK_MESSAGE_ADDED: dict[str, Any] = {
    "account_id": 21825834,
    "detail": {"id": "141"},
    "event": {
        "actor": {"id": "zd:answerBot", "name": "Z3n Tests (ff66ff 403433/1724317083)", "type": "system"},
        "conversation_id": "67ab5f53a96f98663935c3f2",
        "message": {"body": "Hi there. How can I help you today?", "id": "67ab5f55155becd183e284cb"},
    },
    "id": "01JQMQH83YNAKWSWJ8B1QH2NSC",
    "subject": "zen:ticket:141",
    "time": "2025-02-11T14:32:05.254571515Z",
    "type": "zen:event-type:messaging_ticket.message_added",
    "zendesk_event_version": "2022-11-06",
}


def test_zendesk_comment_has_one_id_in_the_webhook_and_the_eventbridge_connector() -> None:
    minimal = one(ZENDESK_WEBHOOK_COMMENT_MINIMAL, Adapter.call_centre)
    full = one(ZENDESK_WEBHOOK_COMMENT_FULL, Adapter.call_centre)
    bridge = one(ZENDESK_EVENTBRIDGE_COMMENT, Adapter.call_centre)
    assert minimal["external_id"] == full["external_id"] == bridge["external_id"] == "zendesk:comment:9876543210"
    assert minimal["id"] == full["id"] == bridge["id"] == stable_event_id("acme-tools", "zendesk:comment:9876543210")
    for event in (minimal, full, bridge):
        assert event["kind"] == "feedback" and event["text"] == "I still cannot log in on the app."
        assert event["metadata"]["vendor"] == "zendesk" and event["metadata"]["event_type"] == "ticket.comment_added"
    # Optional detail properties absent: no customer, channel "other"; present: the same customer in both versions.
    assert minimal["customer"]["id"] is None and minimal["channel"] == "other"
    assert full["customer"]["id"] == bridge["customer"]["id"] == "zendesk:8447388090495"
    assert full["channel"] == bridge["channel"] == "other"  # Zendesk's "web" channel is not one of ours
    assert bridge["occurred_at"].startswith("2025-01-08T14:25:30")


def test_zendesk_staff_comment_is_a_contact_in_both_versions() -> None:
    webhook = copy.deepcopy(ZENDESK_WEBHOOK_COMMENT_FULL)
    webhook["event"]["comment"]["author"]["is_staff"] = True
    bridge = copy.deepcopy(ZENDESK_EVENTBRIDGE_COMMENT)
    bridge["detail"]["ticket_event"]["comment"]["author"]["is_staff"] = True
    for payload in (webhook, bridge):
        event = one(payload, Adapter.call_centre)
        assert event["kind"] == "contact" and event["metadata"]["author_role"] == "agent"


def test_zendesk_ticket_created_has_one_id_in_both_versions_and_other_events_stay_distinct() -> None:
    webhook = {
        **ZENDESK_WEBHOOK_COMMENT_FULL, "type": "zen:event-type:ticket.created", "event": {},
        "detail": {**ZENDESK_WEBHOOK_COMMENT_FULL["detail"], "description": "The app rejects my password."},
    }  # fmt: skip
    bridge = copy.deepcopy(ZENDESK_EVENTBRIDGE_COMMENT)
    ticket_event = bridge["detail"]["ticket_event"]
    ticket_event["type"] = "Ticket Created"
    del ticket_event["comment"]
    created = [one(webhook, Adapter.call_centre), one(bridge, Adapter.call_centre)]
    assert created[0]["external_id"] == created[1]["external_id"] == "zendesk:ticket:5158"
    assert created[0]["kind"] == created[1]["kind"] == "contact"
    assert created[1]["text"] is None  # the connector's ticket has no subject nor description
    ticket_event["type"] = "Status Changed"
    changed = one(bridge, Adapter.call_centre)
    assert changed["external_id"] == f"zendesk:ticket:5158:ticket.status_changed:{bridge['id']}"


def test_zendesk_messaging_message_is_feedback_only_from_the_end_user() -> None:
    bot = one(ZENDESK_MESSAGE_ADDED, Adapter.call_centre)
    assert bot["external_id"] == "zendesk:message:67ab5f55155becd183e284cb" and bot["channel"] == "chat"
    assert bot["kind"] == "contact" and bot["metadata"]["author_role"] == "system"
    assert bot["customer"]["id"] is None and bot["metadata"]["ticket_id"] == "141"
    customer = copy.deepcopy(ZENDESK_MESSAGE_ADDED)
    customer["event"]["actor"] = {"id": "6596848315901", "name": "Jane", "type": "end_user"}
    customer["event"]["message"] = {"body": "My order never arrived", "id": "67ab5f60155becd183e284d0"}
    event = one(customer, Adapter.call_centre)
    assert event["kind"] == "feedback" and event["text"] == "My order never arrived"
    assert event["customer"]["id"] == "zendesk:6596848315901" and "author_role" not in event["metadata"]


# --- Intercom -----------------------------------------------------------------------------------------------------

# Intercom REST API 1.x conversation model (developers.intercom.com/docs/references/1.x, "Conversations"): the
# first message is `conversation_message`, the customer `user` (with `user_id`, your own id for them). The envelope
# and the conversation are as captured from a real 1.x webhook delivery in Hull's Intercom connector test fixtures
# (topic conversation_part.tag.created, app lkqcyt9t); here the customer starts the conversation.
INTERCOM_V1_CREATED: dict[str, Any] = {
    "type": "notification_event",
    "app_id": "lkqcyt9t",
    "data": {
        "type": "notification_event_data",
        "item": {
            "type": "conversation",
            "id": "137324500000000",
            "created_at": 1596634805,
            "updated_at": 1596635155,
            "user": {
                "type": "user", "id": "5ee3d479d1cf3dedbee23d68", "user_id": "234523452345345",
                "name": "Bob Dylan", "email": "bob.dylan@example.com", "do_not_track": None,
            },
            "assignee": {"type": "nobody_admin", "id": None},
            "conversation_message": {
                "type": "conversation_message", "id": "608953158", "url": None, "subject": "",
                "body": "<p>My invoice shows the wrong VAT number</p>",
                "author": {"type": "user", "id": "5ee3d479d1cf3dedbee23d68"}, "attachments": [],
            },
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": [], "total_count": 0},
            "conversation_rating": {},
            "open": True,
            "state": "open",
            "read": False,
            "tags": {"type": "tag.list", "tags": []},
        },
    },
    "links": {},
    "id": "notif_25be3656-da7c-4ee4-9573-346b8df8ffb0",
    "topic": "conversation.user.created",
    "delivery_status": "pending",
    "delivery_attempts": 1,
    "delivered_at": 0,
    "first_sent_at": 1596635272,
    "created_at": 1596635272,
    "self": None,
}  # fmt: skip
# The same conversation as API 2.x sends it (developers.intercom.com/docs/references/2.x, "Conversation model"):
# `source` instead of `conversation_message`, `contacts` (a contact.list) with `external_id` instead of
# `user.user_id`.
INTERCOM_V2_CREATED = copy.deepcopy(INTERCOM_V1_CREATED)
_item = INTERCOM_V2_CREATED["data"]["item"]
del _item["user"]
_message = _item.pop("conversation_message")
_item["source"] = {
    "type": "conversation", "id": _message["id"], "delivered_as": "customer_initiated", "subject": "",
    "body": _message["body"], "author": {"type": "user", "id": "5ee3d479d1cf3dedbee23d68"}, "attachments": [],
}  # fmt: skip
_item["contacts"] = {
    "type": "contact.list",
    "contacts": [{"type": "contact", "id": "5ee3d479d1cf3dedbee23d68", "external_id": "234523452345345"}],
}


def _replied(payload: dict[str, Any]) -> dict[str, Any]:
    """The customer's reply (`conversation.user.replied`): a `comment` part written by the user."""
    reply = copy.deepcopy(payload)
    reply["topic"] = "conversation.user.replied"
    reply["data"]["item"]["conversation_parts"] = {
        "type": "conversation_part.list",
        "conversation_parts": [
            {
                "type": "conversation_part", "id": "6073780765", "part_type": "comment",
                "body": "<p>Any news? The VAT number is still wrong.</p>", "created_at": 1596635049,
                "updated_at": 1596635049, "notified_at": 1596635049, "assigned_to": None,
                "author": {"type": "user", "id": "5ee3d479d1cf3dedbee23d68"}, "attachments": [], "external_id": None,
            }
        ],
        "total_count": 1,
    }  # fmt: skip
    return reply


def test_intercom_conversation_has_one_id_and_customer_in_api_1_and_api_2() -> None:
    v1, v2 = one(INTERCOM_V1_CREATED, Adapter.call_centre), one(INTERCOM_V2_CREATED, Adapter.call_centre)
    assert v1["external_id"] == v2["external_id"] == "intercom:137324500000000"
    assert v1["customer"]["id"] == v2["customer"]["id"] == "234523452345345"
    assert v1["text"] == v2["text"] == "My invoice shows the wrong VAT number"
    assert v1["kind"] == v2["kind"] == "contact" and v1["channel"] == v2["channel"] == "chat"
    assert "bob.dylan" not in str(v1)  # the e-mail address the 1.x user object carries is not kept
    assert v1["scores"] == {"csat": None, "nps": None, "ces": None}  # an empty 1.x conversation_rating


def test_intercom_reply_has_one_id_in_api_1_and_api_2() -> None:
    v1, v2 = (
        one(_replied(INTERCOM_V1_CREATED), Adapter.call_centre),
        one(_replied(INTERCOM_V2_CREATED), Adapter.call_centre),
    )
    assert v1["external_id"] == v2["external_id"] == "intercom:137324500000000:6073780765"
    assert v1["kind"] == v2["kind"] == "feedback"
    assert v1["text"] == v2["text"] == "Any news? The VAT number is still wrong."


def test_intercom_conversation_without_its_optional_parts_is_accepted() -> None:
    bare = copy.deepcopy(INTERCOM_V2_CREATED)
    for name in ("contacts", "conversation_parts", "conversation_rating", "tags", "assignee"):
        bare["data"]["item"].pop(name, None)
    event = one(bare, Adapter.call_centre)
    assert event["external_id"] == "intercom:137324500000000" and event["customer"]["id"] is None


# --- Typeform -----------------------------------------------------------------------------------------------------

# Typeform "Example webhook payload" (https://www.typeform.com/developers/webhooks/example-payload/), trimmed to one
# field of each kind the adapter reads; token, form and hidden field are the documented ones.
TYPEFORM_WEBHOOK: dict[str, Any] = {
    "event_id": "LtWXD3crgy",
    "event_type": "form_response",
    "form_response": {
        "form_id": "lT4Z3j",
        "token": "a3a12ec67a1365927098a606107fac15",
        "submitted_at": "2018-01-18T18:17:02Z",
        "landed_at": "2018-01-18T18:07:02Z",
        "calculated": {"score": 9},
        "hidden": {"user_id": "abc123456"},
        "definition": {
            "id": "lT4Z3j",
            "title": "Webhooks example",
            "fields": [
                {"id": "DlXFaesGBpoF", "title": "What's it like where you live?", "type": "long_text",
                 "ref": "readable_ref_long_text", "allow_multiple_selections": False, "allow_other_choice": False},
                {"id": "k6TP9oLGgHjl", "title": "How likely are you to recommend us?", "type": "nps",
                 "ref": "readable_ref_nps"},
            ],
        },
        "answers": [
            {"type": "text", "text": "It's cold right now! I live in an older medium-sized city with a university.",
             "field": {"id": "DlXFaesGBpoF", "type": "long_text", "ref": "readable_ref_long_text"}},
            {"type": "number", "number": 9, "field": {"id": "k6TP9oLGgHjl", "type": "nps", "ref": "readable_ref_nps"}},
        ],
    },
}  # fmt: skip
# Typeform Responses API, "Retrieve responses" (developers.typeform.com, Responses API reference):
# `GET /forms/{form_id}/responses` gives `total_items`, `page_count` and `items`, each with the same `token` as the
# webhook's form_response; `response_type` tells completed from partial responses.
TYPEFORM_RESPONSES_PAGE: dict[str, Any] = {
    "total_items": 2,
    "page_count": 1,
    "items": [
        {
            "landing_id": "a3a12ec67a1365927098a606107fac15",
            "token": "a3a12ec67a1365927098a606107fac15",
            "response_id": "a3a12ec67a1365927098a606107fac15",
            "response_type": "completed",
            "landed_at": "2018-01-18T18:07:02Z",
            "submitted_at": "2018-01-18T18:17:02Z",
            "metadata": {"user_agent": "Mozilla/5.0", "platform": "other", "network_id": "fd6c80bdd7",
                         "referer": "https://x.typeform.com/to/lT4Z3j", "browser": "default"},
            "hidden": {},
            "calculated": {"score": 9},
            "answers": TYPEFORM_WEBHOOK["form_response"]["answers"],
        },
        {
            "landing_id": "0n2kq9x7l1", "token": "0n2kq9x7l1", "response_id": "0n2kq9x7l1",
            "response_type": "partial", "landed_at": "2018-01-19T08:00:00Z", "hidden": {}, "answers": [],
        },
    ],
}  # fmt: skip


def test_typeform_response_has_one_id_from_the_webhook_and_the_responses_api() -> None:
    hook = one(TYPEFORM_WEBHOOK, Adapter.survey)
    records, rejections = run(TYPEFORM_RESPONSES_PAGE, Adapter.survey)
    assert not rejections and len(records) == 1  # the partial response is not a survey response yet
    assert records[0].id == hook["id"]
    assert hook["external_id"] == "typeform:a3a12ec67a1365927098a606107fac15"
    assert hook["scores"]["nps"] == 9 and hook["text"].startswith("It's cold right now!")
    assert hook["metadata"]["hidden.user_id"] == "abc123456" and hook["metadata"]["survey_title"] == "Webhooks example"


def test_typeform_response_without_definition_hidden_fields_or_refs_is_accepted() -> None:
    older = copy.deepcopy(TYPEFORM_WEBHOOK)
    form = older["form_response"]
    for name in ("definition", "hidden", "calculated", "form_id"):
        del form[name]
    for answer in form["answers"]:
        del answer["field"]["ref"]
    event = one(older, Adapter.survey)
    assert event["external_id"] == "typeform:a3a12ec67a1365927098a606107fac15"
    assert event["scores"]["nps"] == 9 and event["customer"]["id"] is None  # the NPS field is known by its type


def test_a_typeform_page_of_only_partial_responses_is_refused_with_a_reason() -> None:
    page = {**TYPEFORM_RESPONSES_PAGE, "items": TYPEFORM_RESPONSES_PAGE["items"][1:]}
    assert rejected(page, Adapter.survey).reason == "unsupported_payload"


# --- Delighted ----------------------------------------------------------------------------------------------------

# Delighted webhooks (https://app.delighted.com/docs/api/webhooks): `survey_response.created` arrives when the score
# is given, usually before the comment (`comment: null`); `survey_response.updated` brings the comment later.
DELIGHTED_CREATED: dict[str, Any] = {
    "event_type": "survey_response.created",
    "event_id": "3f9a0c1d77e1",
    "event_data": {
        "id": "88213", "person": {"id": "5120", "email": "ana@example.org", "name": None}, "survey_type": "nps",
        "score": 3, "comment": None, "created_at": 1741200000, "person_properties": {}, "tags": [],
    },
}  # fmt: skip


def test_delighted_response_with_and_without_its_comment_is_one_event() -> None:
    created = one(DELIGHTED_CREATED, Adapter.survey)
    updated_payload = copy.deepcopy(DELIGHTED_CREATED)
    updated_payload["event_type"] = "survey_response.updated"
    updated_payload["event_data"]["comment"] = "Support never replied."
    updated = one(updated_payload, Adapter.survey)
    assert created["id"] == updated["id"] and created["external_id"] == "delighted:88213"
    assert created["text"] is None and updated["text"] == "Support never replied."
    assert created["scores"]["nps"] == updated["scores"]["nps"] == 3
    assert created["customer"]["id"] == "delighted:5120"  # no person_properties.customer_id: Delighted's person id


# --- Trustpilot ---------------------------------------------------------------------------------------------------

# Trustpilot "Webhook notifications for service reviews" (https://support.trustpilot.com/hc/en-us/articles/
# 360001108568): `events[]` of `eventName` (service-review-created/-updated/-deleted), `version` "1" and
# `eventData`, the review. A review written without a title, not linked to an order, from a consumer whose id the
# payload omits, carries none of those optional properties.
TRUSTPILOT_MINIMAL: dict[str, Any] = {
    "events": [
        {
            "eventName": "service-review-created",
            "version": "1",
            "eventData": {
                "id": "61d5f8c0e3b7a2001c4e9a10", "stars": 1, "text": "Parcel lost, no refund after 3 weeks.",
                "language": "en", "createdAt": "2025-03-05T12:00:00.000Z",
                "link": "https://www.trustpilot.com/reviews/61d5f8c0e3b7a2001c4e9a10",
                "consumer": {"name": "M. Ortiz", "link": "https://www.trustpilot.com/users/5e1f00aa"},
            },
        }
    ]
}  # fmt: skip
# Trustpilot Business Units API, "Get private reviews for business unit" (https://developers.trustpilot.com/
# business-units-api#get-private-reviews-for-business-unit) and the public reviews of the same API: `reviews[]` and
# `links[]`, each review with the same `id`, `stars`, `title`, `text`, `language`, `createdAt`, `updatedAt` and a
# `consumer` {`id`, `displayName`}.
TRUSTPILOT_API_PAGE: dict[str, Any] = {
    "links": [{"href": "https://api.trustpilot.com/v1/business-units/46d6a890000064000500e0c3/reviews?page=2",
               "method": "GET", "rel": "next-page"}],
    "reviews": [
        {
            "id": "61d5f8c0e3b7a2001c4e9a10", "stars": 1, "title": None,
            "text": "Parcel lost, no refund after 3 weeks.", "language": "en",
            "createdAt": "2025-03-05T12:00:00Z", "updatedAt": None,
            "consumer": {"id": "5e1f00aa", "displayName": "M. Ortiz"},
        }
    ],
}  # fmt: skip


def test_trustpilot_review_has_one_id_in_the_webhook_its_update_and_the_api() -> None:
    created = one(TRUSTPILOT_MINIMAL, Adapter.review)
    updated_payload = copy.deepcopy(TRUSTPILOT_MINIMAL)
    updated_payload["events"][0]["eventName"] = "service-review-updated"
    updated_payload["events"][0]["eventData"]["stars"] = 2
    updated = one(updated_payload, Adapter.review)
    api = one(TRUSTPILOT_API_PAGE, Adapter.review)
    assert created["id"] == updated["id"] == api["id"]
    assert created["external_id"] == "trustpilot:61d5f8c0e3b7a2001c4e9a10"
    assert created["text"] == api["text"] == "Parcel lost, no refund after 3 weeks."
    assert created["scores"]["csat"] == 1 and updated["scores"]["csat"] == 2
    assert created["customer"]["id"] is None and api["customer"]["id"] == "5e1f00aa"
    assert "reference_id" not in created["metadata"] and "title" not in created["metadata"]


def test_a_trustpilot_webhook_of_only_deletions_is_refused_with_a_reason() -> None:
    deleted = copy.deepcopy(TRUSTPILOT_MINIMAL)
    deleted["events"][0]["eventName"] = "service-review-deleted"
    assert rejected(deleted, Adapter.review).reason == "unsupported_payload"


# --- Meta (Facebook Pages) ----------------------------------------------------------------------------------------

# Facebook Page `feed` webhooks in Graph API 2.5 and 2.11, as RestFB's webhook test fixtures record them
# (restfb/restfb src/test/resources/json/webhooks/feed-comment-add-25.json and feed-comment-add-211.json, verbatim):
# 2.5 names the author `sender_id` (a number) and `sender_name`; 2.11 sends `from: {id, name}`.
META_FEED_COMMENT_V25: dict[str, Any] = {
    "object": "page",
    "entry": [
        {
            "id": "1234567890321",
            "time": 1449135003,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "item": "comment", "verb": "add", "comment_id": "901097836652708_903438993085259",
                        "post_id": "1234567890321_901097836652708", "parent_id": "1234567890321_901097836652708",
                        "sender_id": 1234567890321, "created_time": 1449135003, "message": "and the next one",
                        "sender_name": "Tester",
                    },
                }
            ],
        }
    ],
}  # fmt: skip
META_FEED_COMMENT_V211: dict[str, Any] = {
    "object": "page",
    "entry": [
        {
            "id": "1234567890321",
            "time": 1449135003,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "item": "comment", "verb": "add", "comment_id": "901097836652708_903438993085259",
                        "post_id": "1234567890321_901097836652708", "parent_id": "1234567890321_901097836652708",
                        "from": {"id": "1234567890321", "name": "Tester"}, "created_time": 1449135003,
                        "message": "and the next one",
                    },
                }
            ],
        }
    ],
}  # fmt: skip
# restfb/restfb src/test/resources/json/webhooks/feed-status-add-25.json: a status post in Graph API 2.5.
META_FEED_STATUS_V25: dict[str, Any] = {
    "object": "page",
    "entry": [
        {
            "id": "1234567890321",
            "time": 1448633038,
            "changes": [
                {
                    "field": "feed",
                    "value": {
                        "item": "status", "verb": "add", "post_id": "1234567890321_930145403745849",
                        "sender_id": 1234567890321, "published": 1, "created_time": 1448633038,
                        "message": "This is just a short test message", "sender_name": "Tester",
                    },
                }
            ],
        }
    ],
}  # fmt: skip


def test_meta_feed_comment_has_one_id_and_author_in_graph_api_2_5_and_2_11() -> None:
    old, new = one(META_FEED_COMMENT_V25, Adapter.social), one(META_FEED_COMMENT_V211, Adapter.social)
    assert old["external_id"] == new["external_id"] == "facebook:901097836652708_903438993085259"
    assert old["customer"]["id"] == new["customer"]["id"] == "facebook:1234567890321"
    assert old["text"] == new["text"] == "and the next one"
    assert old["occurred_at"] == new["occurred_at"] and old["occurred_at"].startswith("2015-12-03T09:30:03")
    assert old["metadata"]["reply_to"] == new["metadata"]["reply_to"] == "1234567890321_901097836652708"
    assert "Tester" not in str(old) and "Tester" not in str(new)  # the author's name is not kept


def test_meta_feed_status_post_in_graph_api_2_5() -> None:
    post = one(META_FEED_STATUS_V25, Adapter.social)
    assert post["external_id"] == "facebook:1234567890321_930145403745849"
    assert post["customer"]["id"] == "facebook:1234567890321" and post["text"] == "This is just a short test message"


# --- Freshdesk ----------------------------------------------------------------------------------------------------

# Freshdesk API v1, "View a Ticket" (`GET /helpdesk/tickets/[id].json`, http://freshdesk.com/api/#view_a_ticket, as
# its response example is quoted in the docblock of a PHP Freshdesk client): `{"helpdesk_ticket": …}`, the ticket's
# number in `display_id`, `description` as text and `description_html`.
FRESHDESK_V1: dict[str, Any] = {
    "helpdesk_ticket": {
        "cc_email": {"cc_emails": ["superman@marvel.com", "avengers@marvel.com"], "fwd_emails": []},
        "created_at": "2014-01-07T14:57:55+05:30", "deleted": False, "delta": True,
        "description": "Details on the issue ...", "description_html": "<div>Details on the issue ...</div>",
        "display_id": 138, "due_by": "2014-01-10T14:57:55+05:30", "email_config_id": None,
        "frDueBy": "2014-01-08T14:57:55+05:30", "fr_escalated": False, "group_id": None, "id": 138,
        "isescalated": False, "notes": [], "owner_id": None, "priority": 1, "requester_id": 17, "responder_id": None,
        "source": 2, "spam": False, "status": 2, "subject": "Support Needed...", "ticket_type": "Problem",
        "to_email": None, "trained": False, "updated_at": "2014-01-07T15:53:21+05:30", "urgent": False,
        "status_name": "Open", "requester_status_name": "Being Processed", "priority_name": "Low",
        "source_name": "Portal", "requester_name": "Test", "responder_name": "No Agent", "to_emails": None,
        "custom_field": {"weapon_1": "Laser Gun"}, "attachments": [],
    }
}  # fmt: skip
# The same ticket from API v2, "View a Ticket" (https://developers.freshdesk.com/api/#view_a_ticket): `id` is the
# number v1 called `display_id`, `description` is HTML and `description_text` the text; no tags, no group.
FRESHDESK_V2: dict[str, Any] = {
    "cc_emails": ["superman@marvel.com", "avengers@marvel.com"], "fwd_emails": [], "reply_cc_emails": [],
    "fr_escalated": False, "spam": False, "email_config_id": None, "group_id": None, "priority": 1,
    "requester_id": 17, "responder_id": None, "source": 2, "status": 2, "subject": "Support Needed...",
    "to_emails": None, "product_id": None, "id": 138, "type": "Problem", "due_by": "2014-01-10T09:27:55Z",
    "fr_due_by": "2014-01-08T09:27:55Z", "is_escalated": False, "description": "<div>Details on the issue ...</div>",
    "description_text": "Details on the issue ...", "custom_fields": {"weapon": "Laser Gun"},
    "created_at": "2014-01-07T09:27:55Z", "updated_at": "2014-01-07T10:23:21Z", "tags": [], "attachments": [],
}  # fmt: skip


def test_freshdesk_ticket_has_one_id_in_api_v1_and_v2() -> None:
    v1, v2 = one(FRESHDESK_V1, Adapter.call_centre), one(FRESHDESK_V2, Adapter.call_centre)
    assert v1["external_id"] == v2["external_id"] == "freshdesk:138" and v1["id"] == v2["id"]
    assert v1["text"] == v2["text"] == "Support Needed...\n\nDetails on the issue ..."
    assert v1["customer"]["id"] == v2["customer"]["id"] == "freshdesk:17"
    assert v1["occurred_at"] == v2["occurred_at"] and v1["occurred_at"].startswith("2014-01-07T09:27:55")
    assert v1["channel"] == v2["channel"] == "other" and v1["kind"] == "contact"  # source 2: the portal
    assert "superman" not in str(v1)  # cc addresses are not kept
    html_only = copy.deepcopy(FRESHDESK_V1)
    del html_only["helpdesk_ticket"]["description"]
    assert one(html_only, Adapter.call_centre)["text"] == "Support Needed...\n\nDetails on the issue ..."
