"""A weekly digest in words: from its figures to a subject, a plain-text body, an HTML body and a Slack-compatible
message. Pure: no database, no clock."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from services.accountability.digest_figures import AlertFigures, DigestFigures, ShoutOut, StageFigures
from services.accountability.messages import slack_escape


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str
    slack: dict[str, Any]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def duration(seconds: float | None) -> str:
    """`45s`, `12m`, `3h 5m`, `2d 4h`; `n/a` for None."""
    if seconds is None:
        return "n/a"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def change_line(stage: StageFigures) -> str:
    """What changed since the week before, in words."""
    parts = []
    if stage.previous_volume:
        delta = (stage.volume - stage.previous_volume) / stage.previous_volume
        parts.append(f"volume {stage.previous_volume} -> {stage.volume} ({delta * 100:+.0f}%)")
    else:
        parts.append(f"volume {stage.volume} (none the week before)")
    if stage.negative_share is not None and stage.previous_negative_share is not None:
        parts.append(
            f"negative share {_pct(stage.previous_negative_share)} -> {_pct(stage.negative_share)} ({stage.direction})"
        )
    elif stage.negative_share is not None:
        parts.append(f"negative share {_pct(stage.negative_share)}")
    return "; ".join(parts)


def _stage_line(stage: StageFigures) -> str:
    role = f", {stage.role}" if stage.role else ""
    owner = f", owner {stage.owner}" if stage.owner else ""
    reason = f" - {stage.health_reason}" if stage.health_reason and stage.health != "green" else ""
    extra = []
    if stage.nps is not None:
        extra.append(f"NPS {stage.nps:.0f}")
    if stage.csat_mean is not None:
        extra.append(f"CSAT {stage.csat_mean:.2f}")
    figures = f" ({', '.join(extra)})" if extra else ""
    return f"{stage.name} [{stage.health.upper()}{role}{owner}]{reason}: {change_line(stage)}{figures}"


def _alert_lines(a: AlertFigures) -> list[str]:
    return [
        f"Open now: {a.open}; opened this week: {a.opened}; acknowledged: {a.acknowledged}",
        f"Reopened (fix did not hold): {a.reopened}; verified (fix held): {a.verified}",
        f"Median time to acknowledge: {duration(a.median_time_to_ack_s)}",
    ]


def _shoutout_line(s: ShoutOut) -> str:
    what = {"agent": "agent", "team": "team", "touchpoint": "touchpoint"}.get(s.kind, s.kind)
    return f"{s.named} ({what}, routed to {s.team}): \u201c{s.text}\u201d"


def compose(figures: DigestFigures) -> Digest:
    """The digest as e-mail (subject, text, HTML) and as a Slack incoming-webhook message."""
    period = f"{figures.start:%d %b} - {figures.end:%d %b %Y}"
    red = sum(1 for s in figures.stages if s.health == "red")
    subject = (
        f"[Journeyline] Weekly digest {figures.week} - {figures.title}: "
        f"{len(figures.stages)} stages ({red} red), {figures.alerts.open} open alerts"
    )
    sections: list[tuple[str, list[str]]] = []
    sections.append(("Stages, health and what changed", [_stage_line(s) for s in figures.stages] or ["No stages."]))
    sections.append(("Alerts", _alert_lines(figures.alerts) + [f"Open: {t}" for t in figures.alerts.titles[:5]]))
    theme_lines = []
    for t in figures.themes:
        theme_lines.append(f"{t.label} ({t.stage}, {t.volume} items)")
        theme_lines.extend(f"  \u201c{q}\u201d" for q in t.quotes)
    sections.append(("Top themes", theme_lines or ["No themes this week."]))
    shout_lines = [_shoutout_line(s) for s in figures.shoutouts]
    if figures.shoutout_counts:
        counts = ", ".join(f"{team}: {n}" for team, n in sorted(figures.shoutout_counts.items(), key=lambda x: -x[1]))
        shout_lines.insert(0, f"Per team: {counts}")
    sections.append(("Shout-outs", shout_lines or ["No shout-outs this week."]))

    header = f"Weekly digest for {figures.title}, {period} ({figures.week})"
    text = (
        header
        + "\n\n"
        + "\n\n".join(
            f"{title}\n" + "\n".join(f"  {ln}" if ln.startswith("  ") else f"- {ln}" for ln in lines)
            for title, lines in sections
        )
    )
    text += "\n"

    body = [f"<h1>{html.escape(header)}</h1>"]
    for title, lines in sections:
        body.append(f"<h2>{html.escape(title)}</h2><ul>")
        body.extend(f"<li>{html.escape(ln)}</li>" for ln in lines)
        body.append("</ul>")
    html_doc = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        + html.escape(subject)
        + "</title></head><body>"
        + "".join(body)
        + "</body></html>"
    )

    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": header[:150]}}]
    for title, lines in sections:
        chunk = slack_escape(f"*{title}*\n" + "\n".join(f"\u2022 {ln}" for ln in lines))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk[:3000]}})
    slack = {"text": slack_escape(subject), "blocks": blocks}
    return Digest(subject=subject, text=text, html=html_doc, slack=slack)


# --------------------------------------------------------------------------------------------------------------
# Alerts and shout-outs from plain rows
