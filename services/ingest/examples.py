"""Realistic example payloads per adapter (the vendors' documented field names), shown in the OpenAPI docs."""

from __future__ import annotations

from typing import Any

EXAMPLES: dict[str, dict[str, Any]] = {
    "generic": {
        "summary": "generic: one canonical event",
        "value": {
            "external_id": "web-form-20931",
            "channel": "email",
            "kind": "feedback",
            "occurred_at": "2025-03-05T12:00:00Z",
            "customer": {"id": "CUS-20931", "segment": "smb"},
            "text": "I was charged twice for my March invoice and nobody answers my emails.",
            "scores": {"csat": 2},
            "metadata": {"product": "broadband", "region": "uk"},
        },
    },
    "call_centre": {
        "summary": "call_centre (?adapter=call_centre): Journeyline contact record",
        "value": {
            "contact_id": "CALL-2025-03-06-0042",
            "channel": "call",
            "started_at": "2025-03-06T09:14:02Z",
            "customer_id": "CUS-88412",
            "queue": "Billing",
            "agent_id": "j.okafor",
            "agent_notes": "Customer disputed late fee after direct debit failure; waived fee, explained new date.",
            "disposition": "FEE_WAIVED",
            "wait_seconds": 74,
            "handle_seconds": 486,
            "csat": 4,
        },
    },
    "amazon_connect": {
        "summary": "call_centre: Amazon Connect contact trace record",
        "value": {
            "AWSAccountId": "210987654321",
            "ContactId": "5f1c2a9e-7b3d-4e11-9c0a-2d4e6f8a1b3c",
            "Channel": "VOICE",
            "InitiationMethod": "INBOUND",
            "InitiationTimestamp": "2025-02-11T09:14:02Z",
            "DisconnectTimestamp": "2025-02-11T09:22:47Z",
            "CustomerEndpoint": {"Type": "TELEPHONE_NUMBER", "Address": "+447700900123"},
            "Queue": {"Name": "Billing", "EnqueueTimestamp": "2025-02-11T09:14:40Z", "Duration": 74},
            "Agent": {"Username": "j.okafor", "AgentInteractionDuration": 401, "AfterContactWorkDuration": 55},
            "DisconnectReason": "CUSTOMER_DISCONNECT",
            "Attributes": {"customerId": "CUS-88412", "wrapCode": "REFUND_ISSUED", "postCallCsat": "4"},
        },
    },
    "zendesk": {
        "summary": "call_centre: Zendesk ticket comment webhook",
        "value": {
            "type": "zen:event-type:ticket.comment_added",
            "id": "01JNQ8Z3KX",
            "time": "2025-01-20T10:02:11Z",
            "account_id": 9012345,
            "subject": "zen:ticket:48213",
            "detail": {
                "id": "48213",
                "requester_id": "3918273",
                "status": "OPEN",
                "subject": "Charged twice",
                "tags": ["billing"],
                "via": {"channel": "email"},
                "created_at": "2025-01-18T08:00:00Z",
            },
            "event": {
                "comment": {
                    "id": "9981",
                    "body": "Still no refund after 10 days.",
                    "is_public": True,
                    "author": {"id": "3918273", "is_staff": False},
                }
            },
        },
    },
    "social": {
        "summary": "social (?adapter=social): an X post",
        "value": {
            "data": {
                "id": "1893342211009988771",
                "text": "@AcmeHelp third day without broadband, nobody calls back",
                "author_id": "99001122",
                "created_at": "2025-03-05T07:12:44.000Z",
                "conversation_id": "1893342211009988771",
                "lang": "en",
            }
        },
    },
    "facebook": {
        "summary": "social: Facebook Page feed webhook (one event per comment)",
        "value": {
            "object": "page",
            "entry": [
                {
                    "id": "1029384756",
                    "time": 1741163000,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": "1029384756_555_777",
                                "post_id": "1029384756_555",
                                "parent_id": "1029384756_555",
                                "from": {"id": "6611223344", "name": "Dana P."},
                                "message": "Delivery was 4 days late again.",
                                "created_time": 1741162990,
                            },
                        }
                    ],
                }
            ],
        },
    },
    "review": {
        "summary": "review (?adapter=review): App Store Connect customer review",
        "value": {
            "type": "customerReviews",
            "id": "00000123-abcd-0042-9f00-1a2b3c4d0000",
            "attributes": {
                "rating": 2,
                "title": "Crashes on launch",
                "body": "Since 5.4 it crashes when I open statements.",
                "reviewerNickname": "leafblower88",
                "createdDate": "2025-03-02T21:17:09-08:00",
                "territory": "GBR",
            },
        },
    },
    "google_play": {
        "summary": "review: Google Play review",
        "value": {
            "reviewId": "gp:AOqpTOHx7k2",
            "authorName": "Priya S.",
            "comments": [
                {
                    "userComment": {
                        "text": "Widget broke\tStopped updating after last update",
                        "lastModified": {"seconds": "1741080000", "nanos": 0},
                        "starRating": 3,
                        "reviewerLanguage": "en_IN",
                        "device": "a54x",
                        "appVersionName": "5.4.1",
                    }
                }
            ],
        },
    },
    "survey": {
        "summary": "survey (?adapter=survey): Journeyline survey response",
        "value": {
            "response_id": "R_1a2B3c4D5e6F",
            "survey_id": "onboarding-pulse",
            "customer_id": "CUS-4410",
            "nps": 6,
            "ces": 5,
            "verbatim": "Setup took two support calls",
            "submitted_at": "2025-03-06T09:01:40Z",
            "stage_hint": "onboard",
        },
    },
    "delighted": {
        "summary": "survey: Delighted webhook",
        "value": {
            "event_type": "survey_response.updated",
            "event_id": "3f9a0c1d77e2",
            "event_data": {
                "id": "88213",
                "person": {"id": "5120", "email": "ana@example.org", "name": "Ana L."},
                "survey_type": "nps",
                "score": 3,
                "comment": "Support never replied to my ticket.",
                "created_at": 1741200000,
                "person_properties": {"Plan": "Basic", "customer_id": "CUS-9910"},
                "tags": [],
            },
        },
    },
    "batch": {
        "summary": "generic: a batch as a JSON array",
        "value": [
            {
                "external_id": "chat-1",
                "channel": "chat",
                "customer_id": "CUS-1",
                "text": "The app keeps logging me out.",
            },
            {"external_id": "chat-2", "channel": "chat", "customer_id": "CUS-2", "text": "Refund arrived, thanks!"},
        ],
    },
}

NDJSON_EXAMPLE = (
    '{"external_id":"chat-1","channel":"chat","customer_id":"CUS-1","text":"The app keeps logging me out."}\n'
    '{"external_id":"chat-2","channel":"chat","customer_id":"CUS-2","text":"Refund arrived, thanks!"}\n'
)

# A Twilio TaskRouter event callback, as Twilio posts it (form-encoded; `TaskAttributes` is a JSON string).
FORM_EXAMPLE = {
    "EventType": "task.completed",
    "TaskSid": "WT3a91f0",
    "Timestamp": "1741100000",
    "TaskAge": "642",
    "TaskCompletedReason": "wrapup: billing_resolved",
    "TaskQueueName": "Billing",
    "TaskChannelUniqueName": "voice",
    "TaskAttributes": '{"from":"+15555550199","conversations":{"outcome":"Resolved"},"customers":{"external_id":"CUS-5521"}}',
}

# The form examples: a generic event as a web form, and the Twilio callback (the call_centre adapter reads it).
FORM_EXAMPLES: dict[str, dict[str, Any]] = {
    "generic_form": {
        "summary": "generic: a web form",
        "value": {
            "external_id": "web-form-20932",
            "channel": "email",
            "occurred_at": "2025-03-05T12:00:00Z",
            "customer_id": "CUS-20932",
            "text": "The new tariff page does not say what happens after the first year.",
        },
    },
    "twilio": {
        "summary": "call_centre (?adapter=call_centre): Twilio TaskRouter event callback",
        "value": FORM_EXAMPLE,
    },
}

# The adapter each request-body example needs (`?adapter=`), in each example as `x-adapter`: the request schemas are
# the generic adapter's, the other examples are the payloads of the tools other adapters read.
_ADAPTER_NEEDED = {
    **{name: name for name in ("generic", "call_centre", "social", "review", "survey")},
    "amazon_connect": "call_centre",
    "zendesk": "call_centre",
    "facebook": "social",
    "google_play": "review",
    "delighted": "survey",
    "batch": "generic",
    "generic_form": "generic",
    "twilio": "call_centre",
}
for _name, _example in (*EXAMPLES.items(), *FORM_EXAMPLES.items()):
    _example["x-adapter"] = _ADAPTER_NEEDED[_name]
