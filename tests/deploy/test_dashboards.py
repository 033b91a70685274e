"""The Grafana dashboards: generated, complete, and reading only the metric names the services export."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import promql

ROOT = promql.ROOT


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("journeyline_dashboards", ROOT / "deploy/grafana/generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_json_is_what_the_generator_writes() -> None:
    rendered = _generator().render()
    assert set(rendered) == {p.name for p in promql.dashboards()}
    for name, content in rendered.items():
        assert (promql.DASHBOARDS / name).read_text() == content, (
            f"{name} is stale: run .venv/bin/python deploy/grafana/generate.py"
        )


@pytest.mark.parametrize("path", promql.dashboards(), ids=lambda p: p.stem)
def test_queries_use_only_agreed_metric_names(path: Path) -> None:
    found = promql.queries(path)
    assert len(found) >= 10
    for query in found:
        expr = promql.runnable(query.expr)
        unknown = promql.metric_names(expr) - promql.AGREED_METRICS
        assert not unknown, f"{query.where()}: {sorted(unknown)} in {expr}"


@pytest.mark.parametrize("path", promql.dashboards(), ids=lambda p: p.stem)
def test_layout_is_sound(path: Path) -> None:
    board = promql.load(path)
    assert board["uid"].startswith("journeyline-") and board["title"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] not in {"row", "text"}:
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel.get("description"), f"{panel['title']} has no description"


def test_journey_overview_shows_each_stage_left_to_right_in_journey_order() -> None:
    board = promql.load(promql.DASHBOARDS / "journey-overview.json")
    stage = next(v for v in board["templating"]["list"] if v["name"] == "stage")
    assert stage["includeAll"] and stage["sort"] == 3  # sorted numerically by the stage's `order`
    assert "order" in stage["regex"] and "journeyline_stage_info" in stage["definition"]
    repeated = [p for p in board["panels"] if p.get("repeat") == "stage"]
    assert all(p["repeatDirection"] == "h" for p in repeated)
    exprs = " ".join(t["expr"] for p in repeated for t in p["targets"])
    for metric in (
        "stage_health",
        "stage_volume",
        "stage_negative_share",
        "stage_sentiment_mean",
        "stage_open_alerts",
        "stage_info",
    ):
        assert f"journeyline_{metric}" in exprs
    assert "accountable" in repeated[0]["fieldConfig"]["defaults"]["displayName"]


def test_stage_drilldown_has_a_stage_chooser() -> None:
    board = promql.load(promql.DASHBOARDS / "stage-drilldown.json")
    stage = next(v for v in board["templating"]["list"] if v["name"] == "stage")
    assert not stage["multi"] and stage["hide"] == 0
    exprs = [q.expr for q in promql.queries(promql.DASHBOARDS / "stage-drilldown.json")]
    for metric in (
        "alerts_total",
        "alert_time_to_ack_seconds_bucket",
        "moments_of_truth_total",
        "feedback_stored_total",
        "stage_contacts",
        "stage_wait_mean_seconds",
        "stage_handle_mean_seconds",
        "stage_hold_mean_seconds",
        "stage_transfers_per_contact",
    ):
        assert any(f"journeyline_{metric}" in e for e in exprs), metric


def test_pipeline_health_covers_every_stage_of_the_pipeline() -> None:
    exprs = " ".join(q.expr for q in promql.queries(promql.DASHBOARDS / "pipeline-health.json"))
    for metric in (
        "ingest_events_total",
        "ingest_produce_duration_seconds_bucket",
        "classify_items_total",
        "classify_duration_seconds_bucket",
        "classify_confidence_bucket",
        "dlq_records_total",
        "consumer_lag",
        "feedback_stored_total",
        "alert_deliveries_total",
    ):
        assert f"journeyline_{metric}" in exprs, metric
    assert 'stage="unassigned"' in exprs


def test_grafana_provisioning_points_at_the_dashboards_and_prometheus() -> None:
    datasources = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yaml").read_text())
    (ds,) = datasources["datasources"]
    assert (
        ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090" and ds["uid"] == "journeyline-prometheus"
    )
    providers = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/journeyline.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in compose["services"]["grafana"]["volumes"]


def test_runnable_substitutes_grafana_variables() -> None:
    expr = 'rate(x{stage="$stage", window="${window}"}[$__rate_interval])'
    assert promql.runnable(expr) == 'rate(x{stage="get_help", window="1h"}[30s])'
    assert promql.runnable("query_result(max by (stage) (y))") == "max by (stage) (y)"
    assert promql.metric_names('sum by (le) (rate(a_bucket{le="1"}[5m])) / on (stage) group_left (name) b') == {
        "a_bucket",
        "b",
    }
