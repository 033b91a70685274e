"""Every ingest metric, defined once (names shared with dashboards: see docs/contracts.md)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from shared.tally import Tally

EVENTS = Counter(
    "journeyline_ingest_events_total",
    "Events offered to ingest, by source, channel, outcome (accepted|rejected) and reason ('' when accepted)",
    ["source", "channel", "outcome", "reason"],
)
REQUEST_DURATION = Histogram(
    "journeyline_ingest_request_duration_seconds",
    "Time to answer an ingest HTTP request",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BATCH_SIZE = Histogram(
    "journeyline_ingest_batch_size",
    "Events per POST /v1/events request",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
PRODUCE_DURATION = Histogram(
    "journeyline_ingest_produce_duration_seconds",
    "Time from the first send to the broker's acknowledgement of a request's events",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BROKER_UP = Gauge(
    "journeyline_ingest_broker_up",
    "1 when the broker answered the last probe, else 0",
    multiprocess_mode="mostrecent",  # several workers: the latest probe of any of them
)

ROUTES = ("/v1/events", "/v1/sources")
# Bounded reasons an event can be rejected for (the `reason` label and the API's `reason` field).
REASONS = (
    "invalid_json",
    "invalid_form",
    "invalid_utf8",
    "unsupported_payload",
    "unknown_field",
    "missing_field",
    "invalid_field",
    "score_out_of_range",
    "text_too_long",
    "invalid_timestamp",
    "forbidden_source",
    "rate_limited",
    "broker_unavailable",
)

for _route in ROUTES:
    REQUEST_DURATION.labels(_route)

# The events route's own updates (an event accepted, its request's duration and size, the produce duration) go
# through this tally: flushed every shared.tally.INTERVAL and before every scrape (see shared/tally.py).
HOT = Tally()


def init_source_series(source: str, channel: str) -> None:
    """Export 0 for a source's series before its first event, so dashboards see it at once."""
    EVENTS.labels(source, channel, "accepted", "")
    for reason in REASONS:
        EVENTS.labels(source, channel, "rejected", reason)


REDACTED = Counter(
    "journeyline_ingest_redacted_total",
    "Personal data replaced in free text before publishing, by kind (email, phone, card, iban)",
    ["source", "kind"],
)
