"""Every metric of the classify service, defined once (names are shared with the dashboards)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from shared.models import Method, Severity

ITEMS = Counter(
    "journeyline_classify_items_total", "Items classified, by the stage given and how", ["stage", "method", "backend"]
)
DURATION = Histogram(
    "journeyline_classify_duration_seconds",
    "Classification time per item (a batch's time divided by its size)",
    ["backend"],
    buckets=(0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5),
)
CONFIDENCE = Histogram(
    "journeyline_classify_confidence",
    "Confidence of the stage decision",
    ["backend"],
    buckets=(0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
SEVERITY = Counter("journeyline_classify_severity_total", "Items classified, by severity", ["severity"])
CORRECTIONS = Counter("journeyline_classify_corrections_total", "Stage corrections stored as training data")


def init_metrics(*, stages: list[str], backend: str) -> None:
    """Export a zero series for every known label value before the first item."""
    for stage in stages:
        for method in Method:
            ITEMS.labels(stage, method.value, backend)
    DURATION.labels(backend)
    CONFIDENCE.labels(backend)
    for severity in Severity:
        SEVERITY.labels(severity.value)
