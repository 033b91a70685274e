"""Every metric of the accountability service, defined once; label values are bounded (stages, teams, rules)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from shared.journey import UNASSIGNED
from shared.models import Channel

if TYPE_CHECKING:
    from services.accountability.schemas import JourneyView, Resolutions
    from shared.journey import JourneyMap

FEEDBACK_STORED = Counter(
    "journeyline_feedback_stored_total", "Classified items stored (first time only)", ["stage", "channel"]
)
STORE_BATCH_DURATION = Histogram(
    "journeyline_store_batch_duration_seconds",
    "Time to store a batch and evaluate moments and alert rules, in one transaction",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
STAGE_VOLUME = Gauge("journeyline_stage_volume", "Feedback items in the window", ["stage", "window"])
STAGE_NEGATIVE_SHARE = Gauge(
    "journeyline_stage_negative_share", "Share of negative items in the window", ["stage", "window"]
)
STAGE_SENTIMENT_MEAN = Gauge(
    "journeyline_stage_sentiment_mean", "Mean sentiment score (-1..1) in the window", ["stage", "window"]
)
STAGE_CSAT_MEAN = Gauge("journeyline_stage_csat_mean", "Mean CSAT (1-5) in the window", ["stage", "window"])
STAGE_NPS = Gauge("journeyline_stage_nps", "Net promoter score (-100..100) in the window", ["stage", "window"])
STAGE_CES_MEAN = Gauge(
    "journeyline_stage_ces_mean", "Mean customer effort score (1-7) in the window", ["stage", "window"]
)
# Operational figures of the stage's contact records in the window (NaN while no contact reported the figure).
STAGE_CONTACTS = Gauge(
    "journeyline_stage_contacts",
    "Contact records that reported a wait, handle or hold time or transfers, in the window",
    ["stage", "window"],
)
STAGE_WAIT_MEAN = Gauge(
    "journeyline_stage_wait_mean_seconds", "Mean queue wait of contact records in the window", ["stage", "window"]
)
STAGE_HANDLE_MEAN = Gauge(
    "journeyline_stage_handle_mean_seconds", "Mean handling time of contact records in the window", ["stage", "window"]
)
STAGE_HOLD_MEAN = Gauge(
    "journeyline_stage_hold_mean_seconds", "Mean hold time of contact records in the window", ["stage", "window"]
)
STAGE_TRANSFERS_PER_CONTACT = Gauge(
    "journeyline_stage_transfers_per_contact",
    "Mean transfers per contact record that reported them, in the window",
    ["stage", "window"],
)
# How alerts are worked (alerts opened in the window), per stage and per accountable team.
_RESOLUTION_GAUGES = {
    "reopen_rate": "Share of judged resolutions that were reopened (the stage was still bad)",
    "verified_rate": "Share of judged resolutions that the stage's figures verified",
    "time_to_ack_median_seconds": "Median time from opening to acknowledgement",
    "time_to_verify_median_seconds": "Median time from opening to verified",
    "agreed_share": "Share of answered follow-ups that said it is fixed",
}
STAGE_RESOLUTION = {
    name: Gauge(f"journeyline_stage_{name}", text, ["stage", "window"]) for name, text in _RESOLUTION_GAUGES.items()
}
TEAM_RESOLUTION = {
    name: Gauge(f"journeyline_team_{name}", f"{text}, over the stages the team is accountable for", ["team", "window"])
    for name, text in _RESOLUTION_GAUGES.items()
}
STAGE_HEALTH = Gauge("journeyline_stage_health", "Health colour over 24h: 0 green, 1 yellow, 2 red", ["stage"])
STAGE_OPEN_ALERTS = Gauge("journeyline_stage_open_alerts", "Open or acknowledged alerts", ["stage"])
STAGE_INFO = Gauge(
    "journeyline_stage_info",
    "The journey map's stages and accountable teams",
    ["stage", "name", "order", "accountable"],
)
ALERTS = Counter("journeyline_alerts_total", "Alert lifecycle transitions", ["stage", "rule", "transition"])
ALERT_TIME_TO_ACK = Histogram(
    "journeyline_alert_time_to_ack_seconds",
    "Time from opening an alert to its acknowledgement",
    ["stage"],
    buckets=(30, 60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400),
)
MOMENTS = Counter("journeyline_moments_of_truth_total", "Moments of truth that occurred", ["moment", "stage"])
DELIVERIES = Counter("journeyline_alert_deliveries_total", "Outbox delivery attempts", ["team", "receiver", "outcome"])

HEALTH_VALUE = {"green": 0, "yellow": 1, "red": 2}
TRANSITIONS = ("opened", "updated", "acknowledged", "escalated", "resolved", "verified", "reopened")
RECEIVERS = ("webhook", "slack", "kafka")
OUTCOMES = ("delivered", "retry", "dead")


def stage_label(stage: str, journey: JourneyMap) -> str:
    """A stage id safe as a label value: unknown stages count as `unassigned`."""
    return stage if stage in journey.stage_ids else UNASSIGNED


def init_metrics(journey: JourneyMap) -> None:
    """Export a zero series for every known label value before the first event."""
    for stage_id in journey.stage_ids:
        for channel in Channel:
            FEEDBACK_STORED.labels(stage_id, channel.value)
        ALERT_TIME_TO_ACK.labels(stage_id)
        STAGE_OPEN_ALERTS.labels(stage_id)
        for rule in journey.alert_rules:
            for transition in TRANSITIONS:
                ALERTS.labels(stage_id, rule.id, transition)
    for moment in journey.moments_of_truth:
        MOMENTS.labels(moment.id, moment.stage)
    for team in journey.teams:
        for receiver in RECEIVERS[:2]:
            for outcome in OUTCOMES:
                DELIVERIES.labels(team.id, receiver, outcome)
    for outcome in OUTCOMES:
        DELIVERIES.labels("*", "kafka", outcome)


def _or_nan(value: float | None) -> float:
    """No answers in the window is NaN ("no data" on a dashboard), never a 0 that reads as a real score."""
    return float("nan") if value is None else value


def export_resolutions(gauges: dict[str, Gauge], labels: tuple[str, str], figures: Resolutions) -> None:
    """No judged resolution, no acknowledgement or no answer in the window is NaN ("no data"), never a 0."""
    gauges["reopen_rate"].labels(*labels).set(_or_nan(figures.reopen_rate))
    gauges["verified_rate"].labels(*labels).set(_or_nan(figures.verified_rate))
    gauges["time_to_ack_median_seconds"].labels(*labels).set(_or_nan(figures.median_time_to_ack_s))
    gauges["time_to_verify_median_seconds"].labels(*labels).set(_or_nan(figures.median_time_to_verify_s))
    gauges["agreed_share"].labels(*labels).set(_or_nan(figures.agreed_share))


def export_view(view: JourneyView, *, info: bool = False) -> None:
    """Set the scorecard gauges for one window from a journey view (the 24h view also sets health)."""
    if info:
        STAGE_INFO.clear()
    for card in view.stages:
        labels = (card.stage, view.window)
        STAGE_VOLUME.labels(*labels).set(card.volume)
        STAGE_NEGATIVE_SHARE.labels(*labels).set(_or_nan(card.negative_share))
        STAGE_SENTIMENT_MEAN.labels(*labels).set(_or_nan(card.sentiment_mean))
        STAGE_CSAT_MEAN.labels(*labels).set(_or_nan(card.csat_mean))
        STAGE_NPS.labels(*labels).set(_or_nan(card.nps))
        STAGE_CES_MEAN.labels(*labels).set(_or_nan(card.ces_mean))
        ops = card.operations
        STAGE_CONTACTS.labels(*labels).set(ops.contacts)
        STAGE_WAIT_MEAN.labels(*labels).set(_or_nan(ops.wait_mean_s))
        STAGE_HANDLE_MEAN.labels(*labels).set(_or_nan(ops.handle_mean_s))
        STAGE_HOLD_MEAN.labels(*labels).set(_or_nan(ops.hold_mean_s))
        STAGE_TRANSFERS_PER_CONTACT.labels(*labels).set(_or_nan(ops.transfers_per_contact))
        if card.resolutions is not None:
            export_resolutions(STAGE_RESOLUTION, labels, card.resolutions)
        if view.window == "24h":
            STAGE_HEALTH.labels(card.stage).set(HEALTH_VALUE[card.health])
            STAGE_OPEN_ALERTS.labels(card.stage).set(card.open_alerts)
        if info:
            STAGE_INFO.labels(card.stage, card.name, str(card.order), card.accountable).set(1)
