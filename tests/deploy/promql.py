"""The PromQL in the Grafana dashboards: extract every expression and make it runnable outside Grafana."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"

# The names the services agreed to export (docs/contracts.md); dashboards use nothing else.
AGREED_METRICS = {
    "journeyline_ingest_events_total",
    "journeyline_ingest_request_duration_seconds_bucket",
    "journeyline_ingest_batch_size_bucket",
    "journeyline_ingest_produce_duration_seconds_bucket",
    "journeyline_ingest_broker_up",
    "journeyline_classify_items_total",
    "journeyline_classify_duration_seconds_bucket",
    "journeyline_classify_confidence_bucket",
    "journeyline_classify_severity_total",
    "journeyline_dlq_records_total",
    "journeyline_consumer_lag",
    "journeyline_consumer_records_total",
    "journeyline_feedback_stored_total",
    "journeyline_store_batch_duration_seconds_bucket",
    "journeyline_stage_volume",
    "journeyline_stage_negative_share",
    "journeyline_stage_sentiment_mean",
    "journeyline_stage_csat_mean",
    "journeyline_stage_nps",
    "journeyline_stage_ces_mean",
    "journeyline_stage_contacts",
    "journeyline_stage_wait_mean_seconds",
    "journeyline_stage_handle_mean_seconds",
    "journeyline_stage_hold_mean_seconds",
    "journeyline_stage_transfers_per_contact",
    "journeyline_stage_health",
    "journeyline_stage_open_alerts",
    "journeyline_stage_info",
    "journeyline_stage_reopen_rate",
    "journeyline_stage_verified_rate",
    "journeyline_stage_time_to_ack_median_seconds",
    "journeyline_stage_time_to_verify_median_seconds",
    "journeyline_stage_agreed_share",
    "journeyline_team_reopen_rate",
    "journeyline_team_verified_rate",
    "journeyline_team_time_to_ack_median_seconds",
    "journeyline_team_time_to_verify_median_seconds",
    "journeyline_team_agreed_share",
    "journeyline_alerts_total",
    "journeyline_alert_time_to_ack_seconds_bucket",
    "journeyline_moments_of_truth_total",
    "journeyline_alert_deliveries_total",
    "up",
}

# Values a test gives Grafana's variables: a stage with a moment of truth, the shortest window.
DEFAULT_VARIABLES = {"stage": "get_help", "window": "1h", "datasource": "journeyline-prometheus"}
BUILTINS = {"__rate_interval": "30s", "__interval": "5s", "__range": "5m", "__range_s": "300", "__interval_ms": "5000"}


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    expr: str

    def where(self) -> str:
        return f"{self.dashboard} / {self.panel}"


def load(path: Path) -> dict[str, Any]:
    loaded = json.loads(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def dashboards() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def queries(path: Path) -> list[Query]:
    """Every panel target's expression and every query variable's, as written in the dashboard."""
    board = load(path)
    found: list[Query] = []
    for panel in _panels(board.get("panels", [])):
        for t in panel.get("targets", []):
            if t.get("expr"):
                found.append(Query(path.name, f"{panel.get('title', '?')} [{t.get('refId')}]", t["expr"]))
    for var in board.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            found.append(Query(path.name, f"variable ${var['name']}", q))
    return found


def runnable(expr: str, variables: dict[str, str] | None = None) -> str:
    """Grafana's variables substituted, and its `query_result()` / `label_values()` helpers unwrapped."""
    values = {**BUILTINS, **DEFAULT_VARIABLES, **(variables or {})}

    def _sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    out = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", _sub, expr)
    wrapped = re.fullmatch(r"\s*query_result\((.*)\)\s*", out, re.S)
    if wrapped:
        return wrapped.group(1)
    label_values = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", out, re.S)
    if label_values:
        return label_values.group(1)
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads (identifiers that are neither functions, keywords nor label names)."""
    cleaned = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    cleaned = re.sub(r"\{[^}]*\}", "{}", cleaned)
    cleaned = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", cleaned)
    cleaned = re.sub(r"\[[^\]]*\]", "[]", cleaned)
    names = set()
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?", cleaned):
        if match.group(2):
            continue  # a function call
        word = match.group(1)
        if word in {
            "by",
            "without",
            "on",
            "ignoring",
            "group_left",
            "group_right",
            "and",
            "or",
            "unless",
            "bool",
            "offset",
        }:
            continue
        names.add(word)
    return names
