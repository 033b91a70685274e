"""Writes the three Grafana dashboards in deploy/grafana/dashboards/ (run it after editing; a test checks the
JSON matches). Every query uses only the agreed `journeyline_*` metric names (docs/contracts.md).

    .venv/bin/python deploy/grafana/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}

# Stages sorted by their journey order: the regex picks `order` as the text (sorted numerically) and `stage`
# as the value, whatever order the labels come in.
STAGE_QUERY = "query_result(max by (stage, order) (journeyline_stage_info))"
STAGE_REGEX = '/(?=.*order="(?<text>[^"]+)")(?=.*stage="(?<value>[^"]+)")/'

HEALTH_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "Healthy", "color": "green", "index": 0},
            "1": {"text": "Watch", "color": "yellow", "index": 1},
            "2": {"text": "Red", "color": "red", "index": 2},
        },
    }
]
HEALTH_THRESHOLDS = {
    "mode": "absolute",
    "steps": [{"color": "green", "value": None}, {"color": "yellow", "value": 1}, {"color": "red", "value": 2}],
}
SHARE_THRESHOLDS = {
    "mode": "absolute",
    "steps": [{"color": "green", "value": None}, {"color": "yellow", "value": 0.25}, {"color": "red", "value": 0.4}],
}
SENTIMENT_THRESHOLDS = {
    "mode": "absolute",
    "steps": [{"color": "red", "value": None}, {"color": "yellow", "value": -0.2}, {"color": "green", "value": 0.1}],
}
ALERT_THRESHOLDS = {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}]}
NEUTRAL = {"mode": "absolute", "steps": [{"color": "blue", "value": None}]}


class Board:
    """Lays panels out left to right, top to bottom, on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_h = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self.newline()
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def newline(self) -> None:
        self.y += self.row_h
        self.x = self.row_h = 0

    def row(self, title: str) -> None:
        if self.x:
            self.newline()
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, 24, 1)
        self.newline()


def target(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False, fmt: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"refId": ref, "datasource": DS, "expr": expr, "legendFormat": legend or "__auto"}
    out["instant"], out["range"] = instant, not instant
    if fmt:
        out["format"] = fmt
    return out


def _refs(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    return targets


def stat(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    thresholds: dict[str, Any] = NEUTRAL,
    mappings: list[dict[str, Any]] | None = None,
    color_mode: str = "value",
    graph: bool = False,
    decimals: int | None = None,
    text_field: str = "",
    display_name: str = "",
    **extra: Any,
) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit, "thresholds": thresholds, "mappings": mappings or []}
    defaults["color"] = {"mode": "thresholds"}
    if decimals is not None:
        defaults["decimals"] = decimals
    if display_name:
        defaults["displayName"] = display_name
    reduce: dict[str, Any] = {"calcs": ["lastNotNull"], "values": False, "fields": ""}
    if text_field:
        reduce["fields"] = f"/^{text_field}$/"
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _refs(targets),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "reduceOptions": reduce,
            "colorMode": color_mode,
            "graphMode": "area" if graph else "none",
            "textMode": "value_and_name" if display_name else "auto",
            "justifyMode": "center",
            "orientation": "auto",
        },
        **extra,
    }


def timeseries(
    title: str,
    description: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    stack: bool = False,
    min_zero: bool = True,
    max_value: float | None = None,
    bars: bool = False,
    overrides: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    custom: dict[str, Any] = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 2,
        "fillOpacity": 20 if stack or bars else 8,
        "showPoints": "never",
        "spanNulls": True,
        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
    }
    defaults: dict[str, Any] = {"unit": unit, "custom": custom, "color": {"mode": "palette-classic"}}
    if min_zero:
        defaults["min"] = 0
    if max_value is not None:
        defaults["max"] = max_value
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _refs(targets),
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        **extra,
    }


def bargauge(title: str, description: str, targets: list[dict[str, Any]], *, unit: str = "short") -> dict[str, Any]:
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _refs(targets),
        "fieldConfig": {
            "defaults": {"unit": unit, "min": 0, "color": {"mode": "continuous-BlPu"}, "thresholds": NEUTRAL},
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "values": False, "fields": ""},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
        },
    }


def heatmap(title: str, description: str, expr: str) -> dict[str, Any]:
    return {
        "type": "heatmap",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [{**target(expr, "{{le}}"), "format": "heatmap"}],
        "options": {
            "calculate": False,
            "yAxis": {"unit": "percentunit"},
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "cellGap": 1,
            "tooltip": {"show": True, "yHistogram": True},
        },
        "fieldConfig": {"defaults": {}, "overrides": []},
    }


def text(title: str, content: str) -> dict[str, Any]:
    return {"type": "text", "title": title, "options": {"mode": "markdown", "content": content}}


def variables(*, stage: str, window: bool = True) -> list[dict[str, Any]]:
    """`datasource`, then `stage` ("repeat": all stages, hidden; "single": a chooser), then `window`."""
    out: list[dict[str, Any]] = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {"text": "Prometheus", "value": "journeyline-prometheus"},
            "hide": 0,
        }
    ]
    many = stage == "repeat"
    out.append(
        {
            "type": "query",
            "name": "stage",
            "label": "Stage",
            "datasource": DS,
            "query": {"query": STAGE_QUERY, "refId": "stages"},
            "definition": STAGE_QUERY,
            "regex": STAGE_REGEX,
            "sort": 3,
            "refresh": 2,
            "multi": many,
            "includeAll": many,
            "current": {"text": ["All"], "value": ["$__all"]} if many else {},
            "hide": 2 if many else 0,
        }
    )
    if window:
        options = ["1h", "24h", "7d", "30d"]
        out.append(
            {
                "type": "custom",
                "name": "window",
                "label": "Scorecard window",
                "query": ",".join(options),
                "current": {"text": "24h", "value": "24h"},
                "options": [{"text": o, "value": o, "selected": o == "24h"} for o in options],
                "hide": 0,
            }
        )
    return out


def dashboard(uid: str, title: str, description: str, board: Board, templating: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["journeyline"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["journeyline"],
                "asDropdown": True,
                "title": "Journeyline",
                "includeVars": False,
            }
        ],
        "templating": {"list": templating},
        "panels": board.panels,
    }


def journey_overview() -> dict[str, Any]:
    b = Board()
    info = "max by (stage, name, order, accountable) (journeyline_stage_info)"
    b.row("The journey, stage by stage (left to right in journey order)")
    card = {"repeat": "stage", "repeatDirection": "h", "maxPerRow": 8}
    b.add(
        stat(
            "$stage",
            "Health colour of the stage now, by the journey map's thresholds; the name and accountable team below.",
            [
                target(
                    f'max by (stage) (journeyline_stage_health{{stage=~"$stage"}}) * on (stage) group_left (name, order, accountable) {info}',
                    instant=True,
                )
            ],
            thresholds=HEALTH_THRESHOLDS,
            mappings=HEALTH_MAPPINGS,
            color_mode="background",
            display_name="${__field.labels.order}. ${__field.labels.name} · ${__field.labels.accountable}",
            **card,
        ),
        3,
        4,
    )
    b.newline()
    b.add(
        stat(
            "Volume ($window)",
            "How much feedback this stage received in the scorecard window.",
            [target('max by (stage) (journeyline_stage_volume{stage=~"$stage", window="$window"})')],
            graph=True,
            **card,
        ),
        3,
        4,
    )
    b.newline()
    b.add(
        stat(
            "Negative share ($window)",
            "Share of this stage's feedback that was negative in the scorecard window.",
            [target('max by (stage) (journeyline_stage_negative_share{stage=~"$stage", window="$window"})')],
            unit="percentunit",
            thresholds=SHARE_THRESHOLDS,
            graph=True,
            decimals=0,
            **card,
        ),
        3,
        4,
    )
    b.newline()
    b.add(
        timeseries(
            "Sentiment trend",
            "Mean sentiment of the stage's feedback (-1 very negative, +1 very positive) over the last hour, as it moved.",
            [target('max by (stage) (journeyline_stage_sentiment_mean{stage=~"$stage", window="1h"})', "sentiment")],
            min_zero=False,
            **card,
        ),
        3,
        5,
    )
    b.newline()
    b.add(
        stat(
            "Open alerts",
            "Alerts on this stage that nobody has resolved yet.",
            [target('max by (stage) (journeyline_stage_open_alerts{stage=~"$stage"})', instant=True)],
            thresholds=ALERT_THRESHOLDS,
            color_mode="background",
            **card,
        ),
        3,
        3,
    )
    b.row("Every stage together")
    scorecard = {
        "type": "table",
        "title": "Journey scorecard ($window)",
        "description": "One line per stage in journey order: who is accountable, its health, volume, negative share, "
        "mean sentiment, CSAT and open alerts.",
        "datasource": DS,
        "targets": _refs(
            [
                target(info, instant=True, fmt="table"),
                target("max by (stage) (journeyline_stage_health)", instant=True, fmt="table"),
                target('max by (stage) (journeyline_stage_volume{window="$window"})', instant=True, fmt="table"),
                target(
                    'max by (stage) (journeyline_stage_negative_share{window="$window"})', instant=True, fmt="table"
                ),
                target(
                    'max by (stage) (journeyline_stage_sentiment_mean{window="$window"})', instant=True, fmt="table"
                ),
                target('max by (stage) (journeyline_stage_csat_mean{window="$window"})', instant=True, fmt="table"),
                target("max by (stage) (journeyline_stage_open_alerts)", instant=True, fmt="table"),
            ]
        ),
        "transformations": [
            {"id": "joinByField", "options": {"byField": "stage", "mode": "outer"}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {
                        "Time": True,
                        "Time 1": True,
                        "Time 2": True,
                        "Time 3": True,
                        "Time 4": True,
                        "Time 5": True,
                        "Time 6": True,
                        "Time 7": True,
                        "Value #A": True,
                    },
                    "renameByName": {
                        "order": "#",
                        "name": "Stage",
                        "accountable": "Accountable team",
                        "Value #B": "Health",
                        "Value #C": "Volume",
                        "Value #D": "Negative share",
                        "Value #E": "Sentiment",
                        "Value #F": "CSAT",
                        "Value #G": "Open alerts",
                    },
                    "indexByName": {"order": 0, "name": 1, "stage": 2, "accountable": 3},
                },
            },
            {"id": "convertFieldType", "options": {"conversions": [{"targetField": "#", "destinationType": "number"}]}},
            {"id": "sortBy", "options": {"sort": [{"field": "#", "desc": False}]}},
        ],
        "fieldConfig": {
            "defaults": {"custom": {"align": "auto"}, "thresholds": NEUTRAL},
            "overrides": [
                {
                    "matcher": {"id": "byName", "options": "Health"},
                    "properties": [
                        {"id": "mappings", "value": HEALTH_MAPPINGS},
                        {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                        {"id": "thresholds", "value": HEALTH_THRESHOLDS},
                    ],
                },
                {
                    "matcher": {"id": "byName", "options": "Negative share"},
                    "properties": [
                        {"id": "unit", "value": "percentunit"},
                        {"id": "decimals", "value": 0},
                        {"id": "thresholds", "value": SHARE_THRESHOLDS},
                        {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                    ],
                },
                {"matcher": {"id": "byName", "options": "Sentiment"}, "properties": [{"id": "decimals", "value": 2}]},
                {"matcher": {"id": "byName", "options": "CSAT"}, "properties": [{"id": "decimals", "value": 2}]},
                {
                    "matcher": {"id": "byName", "options": "Open alerts"},
                    "properties": [
                        {"id": "thresholds", "value": ALERT_THRESHOLDS},
                        {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                    ],
                },
            ],
        },
        "options": {"showHeader": True, "cellHeight": "sm"},
    }
    b.add(scorecard, 24, 10)
    b.add(
        timeseries(
            "Feedback per minute by stage",
            "How many items each stage is getting, minute by minute (stored by accountability).",
            [target("sum by (stage) (rate(journeyline_feedback_stored_total[$__rate_interval])) * 60", "{{stage}}")],
            unit="short",
            stack=True,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Negative share by stage (last hour)",
            "Which stage is souring: the share of negative feedback per stage over the last hour.",
            [target('max by (stage) (journeyline_stage_negative_share{window="1h"})', "{{stage}}")],
            unit="percentunit",
            max_value=1,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Alerts opened",
            "New alerts per stage: something crossed a threshold and the owning teams were told.",
            [
                target(
                    'sum by (stage) (increase(journeyline_alerts_total{transition="opened"}[$__rate_interval]))',
                    "{{stage}}",
                )
            ],
            bars=True,
        ),
        12,
        7,
    )
    b.add(
        timeseries(
            "Moments of truth",
            "Moments that matter to a customer (e.g. a third contact in 30 days), per stage.",
            [target("sum by (stage) (increase(journeyline_moments_of_truth_total[$__rate_interval]))", "{{stage}}")],
            bars=True,
        ),
        12,
        7,
    )
    return dashboard(
        "journeyline-journey-overview",
        "Journeyline · Journey overview",
        "Every stage of the customer journey at a glance: health, volume, negative share, sentiment, alerts, owners.",
        b,
        variables(stage="repeat"),
    )


def stage_drilldown() -> dict[str, Any]:
    b = Board()
    one = 'stage="$stage"'
    b.row("$stage now")
    b.add(
        stat(
            "Health",
            "Health colour now, by the journey map's thresholds for this stage.",
            [target(f"max(journeyline_stage_health{{{one}}})", instant=True)],
            thresholds=HEALTH_THRESHOLDS,
            mappings=HEALTH_MAPPINGS,
            color_mode="background",
        ),
        3,
        4,
    )
    b.add(
        stat(
            "Accountable team",
            "The team that answers for this stage; contributing teams receive its alerts too (see /v1/stages).",
            [target(f"max by (stage, name, accountable) (journeyline_stage_info{{{one}}})", instant=True, fmt="table")],
            text_field="accountable",
        ),
        4,
        4,
    )
    for title, metric, unit, th, desc in (
        ("Volume", "journeyline_stage_volume", "short", NEUTRAL, "Items received in the window."),
        (
            "Negative share",
            "journeyline_stage_negative_share",
            "percentunit",
            SHARE_THRESHOLDS,
            "Share of negative items.",
        ),
        ("Sentiment", "journeyline_stage_sentiment_mean", "none", SENTIMENT_THRESHOLDS, "Mean sentiment, -1 to +1."),
        ("CSAT", "journeyline_stage_csat_mean", "none", NEUTRAL, "Mean satisfaction score (1-5) from surveys."),
        ("NPS", "journeyline_stage_nps", "none", NEUTRAL, "Net promoter score (-100 to 100) from surveys."),
    ):
        b.add(
            stat(
                f"{title} ($window)",
                desc,
                [target(f'max({metric}{{{one}, window="$window"}})')],
                unit=unit,
                thresholds=th,
                graph=True,
                decimals=2,
            ),
            3 if title != "Volume" else 2,
            4,
        )
    b.add(
        stat(
            "Open alerts",
            "Alerts on this stage not yet resolved.",
            [target(f"max(journeyline_stage_open_alerts{{{one}}})", instant=True)],
            thresholds=ALERT_THRESHOLDS,
            color_mode="background",
        ),
        2,
        4,
    )
    b.row("Scorecard over time")
    b.add(
        timeseries(
            "Volume",
            "How much feedback the stage got, over the last hour and the last day.",
            [
                target(f'max(journeyline_stage_volume{{{one}, window="1h"}})', "last hour"),
                target(f'max(journeyline_stage_volume{{{one}, window="24h"}})', "last 24 hours"),
            ],
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "Negative share and sentiment",
            "Is it getting better or worse? Share of negative items and mean sentiment over the last hour.",
            [
                target(f'max(journeyline_stage_negative_share{{{one}, window="1h"}})', "negative share"),
                target(f'max(journeyline_stage_sentiment_mean{{{one}, window="1h"}})', "mean sentiment"),
            ],
            unit="percentunit",
            min_zero=False,
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "mean sentiment"},
                    "properties": [{"id": "unit", "value": "none"}],
                }
            ],
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "CSAT, NPS and effort ($window)",
            "Survey scores for this stage: CSAT (1-5), customer effort (1-7, lower is better) and NPS (-100..100, right axis).",
            [
                target(f'max(journeyline_stage_csat_mean{{{one}, window="$window"}})', "CSAT"),
                target(f'max(journeyline_stage_ces_mean{{{one}, window="$window"}})', "effort (CES)"),
                target(f'max(journeyline_stage_nps{{{one}, window="$window"}})', "NPS"),
            ],
            min_zero=False,
        ),
        8,
        8,
    )
    b.row("Contact centre: waiting, handling, transfers")
    for title, metric, unit, desc in (
        (
            "Contacts",
            "journeyline_stage_contacts",
            "short",
            "Calls, chats and tickets on this stage whose system reported a wait, handle or hold time or transfers.",
        ),
        ("Mean wait", "journeyline_stage_wait_mean_seconds", "s", "How long customers waited in the queue."),
        (
            "Mean handle time",
            "journeyline_stage_handle_mean_seconds",
            "s",
            "How long an agent spent on a contact (talking, hold and wrap-up).",
        ),
        ("Mean hold", "journeyline_stage_hold_mean_seconds", "s", "How long customers were put on hold."),
        (
            "Transfers per contact",
            "journeyline_stage_transfers_per_contact",
            "none",
            "How often a contact was passed on to another agent or queue, per contact that reported it.",
        ),
    ):
        b.add(
            stat(
                f"{title} ($window)",
                desc,
                [target(f'max({metric}{{{one}, window="$window"}})')],
                unit=unit,
                graph=True,
                decimals=0 if unit == "short" else 1,
            ),
            4 if title == "Contacts" else 5,
            4,
        )
    b.add(
        timeseries(
            "Wait, handle and hold time",
            "Mean queue wait, handle time and hold time of this stage's contacts over the last hour, as they moved.",
            [
                target(f'max(journeyline_stage_wait_mean_seconds{{{one}, window="1h"}})', "wait"),
                target(f'max(journeyline_stage_handle_mean_seconds{{{one}, window="1h"}})', "handle"),
                target(f'max(journeyline_stage_hold_mean_seconds{{{one}, window="1h"}})', "hold"),
            ],
            unit="s",
        ),
        16,
        8,
    )
    b.add(
        timeseries(
            "Contacts and transfers",
            "Contacts over the last hour, and transfers per contact (right axis).",
            [
                target(f'max(journeyline_stage_contacts{{{one}, window="1h"}})', "contacts"),
                target(f'max(journeyline_stage_transfers_per_contact{{{one}, window="1h"}})', "transfers per contact"),
            ],
            overrides=[
                {
                    "matcher": {"id": "byName", "options": "transfers per contact"},
                    "properties": [
                        {"id": "unit", "value": "none"},
                        {"id": "custom.axisPlacement", "value": "right"},
                    ],
                }
            ],
        ),
        8,
        8,
    )
    b.row("Alerts and moments of truth")
    b.add(
        bargauge(
            "Alerts in this period",
            "How many alerts were opened, acknowledged, escalated and resolved in the selected time range.",
            [
                target(
                    f"sum by (transition) (increase(journeyline_alerts_total{{{one}}}[$__range]))",
                    "{{transition}}",
                    instant=True,
                )
            ],
        ),
        6,
        8,
    )
    b.add(
        timeseries(
            "Alert lifecycle",
            "When alerts were opened, acknowledged and resolved.",
            [
                target(
                    f"sum by (transition) (increase(journeyline_alerts_total{{{one}}}[$__rate_interval]))",
                    "{{transition}}",
                )
            ],
            bars=True,
        ),
        6,
        8,
    )
    ack = f"journeyline_alert_time_to_ack_seconds_bucket{{{one}}}"
    b.add(
        timeseries(
            "Time to acknowledge",
            "How long the owning teams took to acknowledge an alert (median and 90th percentile).",
            [
                target(f"histogram_quantile(0.5, sum by (le) (rate({ack}[$__range])))", "median"),
                target(f"histogram_quantile(0.9, sum by (le) (rate({ack}[$__range])))", "90th percentile"),
            ],
            unit="s",
        ),
        6,
        8,
    )
    b.add(
        bargauge(
            "Moments of truth",
            "Moments that matter to customers on this stage (e.g. a third contact in 30 days) in this period.",
            [
                target(
                    f"sum by (moment) (increase(journeyline_moments_of_truth_total{{{one}}}[$__range]))",
                    "{{moment}}",
                    instant=True,
                )
            ],
        ),
        6,
        8,
    )
    b.row("Where the feedback comes from")
    b.add(
        bargauge(
            "Channels",
            "Through which channels customers spoke about this stage in the selected time range.",
            [
                target(
                    f"sum by (channel) (increase(journeyline_feedback_stored_total{{{one}}}[$__range]))",
                    "{{channel}}",
                    instant=True,
                )
            ],
        ),
        8,
        8,
    )
    b.add(
        bargauge(
            "Top sources (all stages)",
            "The systems sending the most feedback into Journeyline in the selected range, for every stage together "
            "(sources are counted at the door, before a stage is known).",
            [
                target(
                    'topk(10, sum by (source) (increase(journeyline_ingest_events_total{outcome="accepted"}[$__range])))',
                    "{{source}}",
                    instant=True,
                )
            ],
        ),
        8,
        8,
    )
    b.add(
        timeseries(
            "How items were recognised as this stage",
            "Whether the stage came from the source's own hint, a rule, the model or the fallback.",
            [
                target(
                    f"sum by (method) (rate(journeyline_classify_items_total{{{one}}}[$__rate_interval])) * 60",
                    "{{method}}",
                )
            ],
            unit="short",
            stack=True,
        ),
        8,
        8,
    )
    return dashboard(
        "journeyline-stage-drilldown",
        "Journeyline · Stage drill-down",
        "One stage in depth: scorecard over time, contact-centre figures, owners, alerts, time to acknowledge, "
        "moments of truth, channels.",
        b,
        variables(stage="single"),
    )


def pipeline_health() -> dict[str, Any]:
    b = Board()
    rate = "[$__rate_interval]"
    b.row("Ingest: feedback arriving")
    b.add(
        stat(
            "Broker reachable",
            "1 when every ingest process can reach Kafka; 0 means new feedback is refused with 503.",
            [target("min(journeyline_ingest_broker_up)", instant=True)],
            thresholds={"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]},
            mappings=[{"type": "value", "options": {"0": {"text": "DOWN"}, "1": {"text": "UP"}}}],
            color_mode="background",
        ),
        4,
        7,
    )
    b.add(
        timeseries(
            "Events per second",
            "Accepted and rejected events per second.",
            [target(f"sum by (outcome) (rate(journeyline_ingest_events_total{rate}))", "{{outcome}}")],
            unit="reqps",
        ),
        10,
        7,
    )
    b.add(
        timeseries(
            "Rejections by reason",
            "Why events were refused (per second); a sudden rise usually means a source changed its payload.",
            [
                target(
                    f'sum by (reason) (rate(journeyline_ingest_events_total{{outcome="rejected"}}{rate}))', "{{reason}}"
                )
            ],
            unit="reqps",
            stack=True,
        ),
        10,
        7,
    )
    b.add(
        timeseries(
            "Produce latency",
            "Time for Kafka to acknowledge a request's events (ingest answers 202 only after this).",
            [
                target(
                    f"histogram_quantile(0.5, sum by (le) (rate(journeyline_ingest_produce_duration_seconds_bucket{rate})))",
                    "p50",
                ),
                target(
                    f"histogram_quantile(0.99, sum by (le) (rate(journeyline_ingest_produce_duration_seconds_bucket{rate})))",
                    "p99",
                ),
            ],
            unit="s",
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Request latency p99 by route",
            "99th percentile answer time of the ingest HTTP API.",
            [
                target(
                    f"histogram_quantile(0.99, sum by (le, route) (rate(journeyline_ingest_request_duration_seconds_bucket{rate})))",
                    "{{route}}",
                )
            ],
            unit="s",
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Events per source",
            "Accepted events per second for each source system.",
            [
                target(
                    f'sum by (source, channel) (rate(journeyline_ingest_events_total{{outcome="accepted"}}{rate}))',
                    "{{source}} ({{channel}})",
                )
            ],
            unit="reqps",
            stack=True,
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Batch size",
            "Events per request (median and 99th percentile).",
            [
                target(
                    f"histogram_quantile(0.5, sum by (le) (rate(journeyline_ingest_batch_size_bucket{rate})))", "p50"
                ),
                target(
                    f"histogram_quantile(0.99, sum by (le) (rate(journeyline_ingest_batch_size_bucket{rate})))", "p99"
                ),
            ],
        ),
        8,
        7,
    )
    b.row("Classify: stage, sentiment, severity")
    b.add(
        timeseries(
            "Items classified per second by back-end",
            "Throughput of each classifier back-end.",
            [target(f"sum by (backend) (rate(journeyline_classify_items_total{rate}))", "{{backend}}")],
            unit="ops",
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Classify latency per item by back-end",
            "Median and 99th percentile time to classify one item.",
            [
                target(
                    f"histogram_quantile(0.5, sum by (le, backend) (rate(journeyline_classify_duration_seconds_bucket{rate})))",
                    "p50 {{backend}}",
                ),
                target(
                    f"histogram_quantile(0.99, sum by (le, backend) (rate(journeyline_classify_duration_seconds_bucket{rate})))",
                    "p99 {{backend}}",
                ),
            ],
            unit="s",
        ),
        8,
        7,
    )
    b.add(
        heatmap(
            "Confidence distribution",
            "How sure the classifier is; mass at the bottom means many items go to triage as unassigned.",
            f"sum by (le) (increase(journeyline_classify_confidence_bucket{rate}))",
        ),
        8,
        7,
    )
    b.add(
        stat(
            "Unassigned share",
            "Share of items no stage could be given with enough confidence; they go to the triage team.",
            [
                target(
                    f'sum(rate(journeyline_classify_items_total{{stage="unassigned"}}{rate})) / sum(rate(journeyline_classify_items_total{rate}))'
                )
            ],
            unit="percentunit",
            thresholds={
                "mode": "absolute",
                "steps": [
                    {"color": "green", "value": None},
                    {"color": "yellow", "value": 0.1},
                    {"color": "red", "value": 0.25},
                ],
            },
            graph=True,
            decimals=1,
        ),
        4,
        7,
    )
    b.add(
        timeseries(
            "Classification method",
            "Whether stages come from the source's hint, a rule, the model or the fallback (per second).",
            [target(f"sum by (method) (rate(journeyline_classify_items_total{rate}))", "{{method}}")],
            unit="ops",
            stack=True,
        ),
        10,
        7,
    )
    b.add(
        timeseries(
            "Severity",
            "Items per second by severity; critical items open an alert at once.",
            [target(f"sum by (severity) (rate(journeyline_classify_severity_total{rate}))", "{{severity}}")],
            unit="ops",
            stack=True,
        ),
        10,
        7,
    )
    b.row("Kafka: consumer groups and dead letters")
    b.add(
        timeseries(
            "Consumer lag per group",
            "Records waiting to be processed by each consumer group (sum over partitions).",
            [target("sum by (group) (journeyline_consumer_lag)", "{{group}}")],
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Consumer lag per partition",
            "The same lag per partition: one hot partition means one hot key (a very active customer).",
            [
                target(
                    "max by (group, topic, partition) (journeyline_consumer_lag)", "{{group}} {{topic}}[{{partition}}]"
                )
            ],
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Records processed per second",
            "Throughput of each consumer group.",
            [target(f"sum by (group) (rate(journeyline_consumer_records_total{rate}))", "{{group}}")],
            unit="ops",
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Dead-letter records",
            "Records that could not be processed and were parked on the DLQ topic, by group and reason.",
            [target(f"sum by (group, reason) (rate(journeyline_dlq_records_total{rate}))", "{{group}}: {{reason}}")],
            unit="ops",
            bars=True,
        ),
        12,
        7,
    )
    b.add(
        timeseries(
            "Services up",
            "1 when Prometheus can scrape the service.",
            [target('up{job=~"ingest|classify|accountability"}', "{{job}} {{instance}}")],
            max_value=1,
        ),
        12,
        7,
    )
    b.row("Accountability: storing and alerting")
    b.add(
        timeseries(
            "Writes per second by stage",
            "Classified items stored per second, by stage.",
            [target(f"sum by (stage) (rate(journeyline_feedback_stored_total{rate}))", "{{stage}}")],
            unit="ops",
            stack=True,
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Store batch latency",
            "Time to write one batch of classified items to the database.",
            [
                target(
                    f"histogram_quantile(0.5, sum by (le) (rate(journeyline_store_batch_duration_seconds_bucket{rate})))",
                    "p50",
                ),
                target(
                    f"histogram_quantile(0.99, sum by (le) (rate(journeyline_store_batch_duration_seconds_bucket{rate})))",
                    "p99",
                ),
            ],
            unit="s",
        ),
        8,
        7,
    )
    b.add(
        timeseries(
            "Alert deliveries by outcome",
            "Alert messages sent to the teams' receivers, by outcome (per minute).",
            [target(f"sum by (outcome) (rate(journeyline_alert_deliveries_total{rate})) * 60", "{{outcome}}")],
            bars=True,
        ),
        8,
        7,
    )
    b.add(
        bargauge(
            "Deliveries by team and receiver in this period",
            "Which teams' receivers got alerts in the selected range, and which failed (outcome).",
            [
                target(
                    "sum by (team, receiver, outcome) (increase(journeyline_alert_deliveries_total[$__range]))",
                    "{{team}} · {{receiver}} · {{outcome}}",
                    instant=True,
                )
            ],
        ),
        24,
        8,
    )
    return dashboard(
        "journeyline-pipeline-health",
        "Journeyline · Pipeline health",
        "Is the pipeline keeping up? Ingest, classify, Kafka consumer groups, dead letters, storage, alert deliveries.",
        b,
        variables(stage="none", window=False)[:1],
    )


def accountability() -> dict[str, Any]:
    """Per team and per stage: are alerts worked, and do the fixes hold? (the alerts that opened in the window)."""
    b = Board()
    figures = [
        ("reopen_rate", "Reopen rate", "Share of judged resolutions that were reopened: the stage was still bad when "
         "Journeyline checked. High means fixes are claimed, not made.", "percentunit"),
        ("verified_rate", "Verified resolution rate", "Share of judged resolutions that the stage's own figures "
         "verified after the rule's verify_after.", "percentunit"),
        ("time_to_ack_median_seconds", "Median time to acknowledge", "From an alert opening to someone taking it.",
         "s"),
        ("time_to_verify_median_seconds", "Median time to a verified fix", "From an alert opening to its resolution "
         "being verified by the figures.", "s"),
        ("agreed_share", "Customers who say it is fixed", "Share of answered follow-ups (\"is it fixed for you?\") "
         "that said yes.", "percentunit"),
    ]  # fmt: skip
    for scope, label in (("team", "team"), ("stage", "stage")):
        b.row(f"Per {label}: alerts opened in the last $window")
        for name, title, description, unit in figures:
            where = '{window="$window"}' if scope == "team" else '{stage=~"$stage", window="$window"}'
            expr = f"max by ({scope}) (journeyline_{scope}_{name}{where})"
            b.add(bargauge(f"{title} per {label}", description + " Empty: nothing to judge yet.",
                           [target(expr, f"{{{{{scope}}}}}", instant=True)], unit=unit), 8, 7)  # fmt: skip
    b.row("Over time")
    b.add(
        timeseries(
            "Reopen rate per team",
            "A rising line means resolutions are not holding.",
            [target('max by (team) (journeyline_team_reopen_rate{window="$window"})', "{{team}}")],
            unit="percentunit",
            max_value=1,
        ),
        12,
        8,
    )
    b.add(
        timeseries(
            "Customers who say it is fixed, per team",
            "Answered follow-ups that said yes.",
            [target('max by (team) (journeyline_team_agreed_share{window="$window"})', "{{team}}")],
            unit="percentunit",
            max_value=1,
        ),
        12,
        8,
    )
    return dashboard(
        "journeyline-accountability",
        "Journeyline — Accountability",
        "Per team and stage: time to acknowledge, verified and reopen rates, and what customers say about the fixes.",
        b,
        variables(stage="repeat"),
    )


DASHBOARDS = {
    "journey-overview.json": journey_overview,
    "stage-drilldown.json": stage_drilldown,
    "pipeline-health.json": pipeline_health,
    "accountability.json": accountability,
}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n" for name, build in DASHBOARDS.items()}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in render().items():
        (OUT / name).write_text(content)
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
