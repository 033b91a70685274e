"""Weekly digests and shout-outs.

Two layers:

* composition (`compose`, `find_shoutouts`, `alert_figures`): plain data in, a subject, a plain-text body, an HTML
  body and a Slack-compatible message out. No database, no clock: unit-testable.
* gathering and sending (`gather`, `enqueue_digests`, `send_due`): read the week's figures (scorecards, alerts,
  themes, positive items), compose one digest per team and one for leadership, and write one outbox row per
  receiver (e-mail and Slack). `acct_digests` remembers which (audience, ISO week) was sent, so a restart never
  sends a week's digest twice.
"""

from __future__ import annotations

import dataclasses
import html
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlmodel import Session

from services.accountability.models import Alert, DigestRun, FeedbackItem, OutboxEntry, Team, columns
from services.accountability.ownership import all_owners
from services.accountability.scorecard import journey_view
from services.accountability.theme_reads import stage_themes
from shared.journey import UNASSIGNED, JourneyMap

DIGEST_EVENT = "io.journeyline.digest.weekly"
LEADERSHIP = "leadership"  # the audience id of the leadership digest (also its `acct_digests.audience`)
WINDOW = "7d"
TOP_THEMES = 3
QUOTES_PER_THEME = 2
MAX_SHOUTOUTS = 5
MAX_POSITIVE_ITEMS = 5_000  # positive items read for shout-outs per digest run
ALERT_LOOKBACK = timedelta(days=90)  # alerts older than this (and closed) are not read

# "thanks to Maria", "kudos to Sam Lee", "shout-out to Priya", "thank you Tom"
_THANKS = re.compile(
    r"\b(?i:thanks?(?:\s+you)?(?:\s+so\s+much)?\s+to|thank\s+you,?|kudos\s+to|shout[\s-]?outs?\s+to|praise\s+to)\s+"
    r"([A-Z][a-z'\-]+(?:\s+[A-Z][a-z'\-]+)?)"
)
_NOT_NAMES = frozenset({"The", "Your", "You", "Everyone", "All", "Team", "Support", "For", "So", "Very", "It"})


# --------------------------------------------------------------------------------------------------------------
# Plain data


@dataclass(frozen=True)
class StageFigures:
    stage: str
    name: str
    role: str  # "accountable" / "contributing" (leadership: "accountable" team id in `owner`)
    health: str
    health_reason: str = ""
    volume: int = 0
    negative_share: float | None = None
    previous_volume: int = 0
    previous_negative_share: float | None = None
    direction: str = "unknown"
    nps: float | None = None
    csat_mean: float | None = None
    owner: str = ""


@dataclass(frozen=True)
class AlertFigures:
    open: int = 0  # open or acknowledged now
    opened: int = 0  # opened during the week
    acknowledged: int = 0  # acknowledged during the week
    reopened: int = 0  # reopened during the week (the resolution did not hold)
    verified: int = 0  # verified during the week (the resolution held)
    median_time_to_ack_s: float | None = None
    titles: tuple[str, ...] = ()  # the open ones, most recent first


@dataclass(frozen=True)
class ThemeFigure:
    stage: str
    label: str
    volume: int
    quotes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShoutOut:
    item_id: str
    stage: str
    kind: str  # "agent" / "team" / "touchpoint"
    named: str  # the agent's name, the team's name, or the touchpoint (stage) name
    team: str  # the team it is routed to
    text: str


@dataclass(frozen=True)
class DigestFigures:
    audience: str  # a team id, or LEADERSHIP
    title: str  # "Billing & finance operations" / "Leadership"
    week: str  # ISO week, "2026-W45"
    start: datetime
    end: datetime
    stages: Sequence[StageFigures] = ()
    alerts: AlertFigures = field(default_factory=AlertFigures)
    themes: Sequence[ThemeFigure] = ()
    shoutouts: Sequence[ShoutOut] = ()
    shoutout_counts: Mapping[str, int] = field(default_factory=dict)  # leadership: per team


@dataclass(frozen=True)
class Digest:
    subject: str
    text: str
    html: str
    slack: dict[str, Any]


# --------------------------------------------------------------------------------------------------------------
# Composition


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
        chunk = _slack_escape(f"*{title}*\n" + "\n".join(f"\u2022 {ln}" for ln in lines))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk[:3000]}})
    slack = {"text": _slack_escape(subject), "blocks": blocks}
    return Digest(subject=subject, text=text, html=html_doc, slack=slack)


def _slack_escape(text: str) -> str:
    """Customers' words cannot mention `<!channel>` or forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------------------------------------------
# Alerts and shout-outs from plain rows


def alert_figures(alerts: Iterable[Mapping[str, Any]], *, start: datetime, end: datetime) -> AlertFigures:
    """Counts for the week (start, end] from alert rows (`status`, `title`, `opened_at`, `acknowledged_at`,
    `details`)."""

    def within(value: Any) -> bool:
        when = _as_datetime(value)
        return when is not None and start < when <= end

    open_now = opened = acknowledged = reopened = verified = 0
    acks: list[float] = []
    titles: list[tuple[datetime, str]] = []
    for a in alerts:
        details = a.get("details") or {}
        if a["status"] in ("open", "acknowledged"):
            open_now += 1
            titles.append((_as_datetime(a["opened_at"]) or start, str(a["title"])))
        if within(a["opened_at"]):
            opened += 1
        if within(a.get("acknowledged_at")):
            acknowledged += 1
            ack_at, opened_at = _as_datetime(a["acknowledged_at"]), _as_datetime(a["opened_at"])
            if ack_at and opened_at:
                acks.append((ack_at - opened_at).total_seconds())
        reopened += sum(1 for r in details.get("reopened") or [] if isinstance(r, dict) and within(r.get("at")))
        verification = details.get("verification") or {}
        if a["status"] == "verified" and within(verification.get("at")):
            verified += 1
    titles.sort(key=lambda t: t[0], reverse=True)
    return AlertFigures(
        open=open_now,
        opened=opened,
        acknowledged=acknowledged,
        reopened=reopened,
        verified=verified,
        median_time_to_ack_s=round(statistics.median(acks), 1) if acks else None,
        titles=tuple(t for _, t in titles),
    )


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _mentions(text: str, phrase: str) -> bool:
    phrase = phrase.strip().lower()
    return bool(phrase) and re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", text.lower()) is not None


def _team_phrases(team_id: str, name: str) -> list[str]:
    """How customers name a team: its full name, a several-word id (`customer care`), `<first word> team`,
    `<id> team`. A one-word id alone ("product", "billing") is an everyday word, not a team's name."""
    words = team_id.replace("-", " ").replace("_", " ")
    phrases = [name, f"{words} team"]
    if " " in words:
        phrases.append(words)
    first = re.split(r"[\s&,]+", name.strip())[0] if name.strip() else ""
    if first:
        phrases.append(f"{first} team")
    return [p for p in dict.fromkeys(phrases) if len(p) >= 3]


def find_shoutouts(
    items: Iterable[Mapping[str, Any]],
    *,
    journey: JourneyMap,
    teams: Mapping[str, str],
    accountable: Mapping[str, str],
) -> list[ShoutOut]:
    """Shout-outs from positive items (`id`, `stage`, `text`, `sentiment_label`, `metadata`): at most one each,
    the most specific first.

    * an agent: `agent_name` / `agent_id` in the metadata, or "thanks to <Name>" in the text - routed to the team
      in the metadata (`team`) if it is one, else to the item's stage's accountable team;
    * a team: its name or id in the text - routed to that team;
    * a touchpoint: a stage keyword in the text - routed to that stage's accountable team.

    `teams`: team id -> name; `accountable`: stage -> accountable team id."""
    found = []
    for item in items:
        if item.get("sentiment_label") != "positive":
            continue
        text = str(item.get("text") or "").strip()
        meta = item.get("metadata") or {}
        stage = str(item.get("stage") or UNASSIGNED)
        item_id = str(item["id"])
        quote = text[:280]
        home = accountable.get(stage) or accountable.get(UNASSIGNED, "")
        agent = str(meta.get("agent_name") or meta.get("agent_id") or "").strip()
        if not agent and text:
            match = _THANKS.search(text)
            if match and match.group(1).split()[0] not in _NOT_NAMES:
                candidate = match.group(1)
                if not any(_mentions(candidate, p) for tid, nm in teams.items() for p in _team_phrases(tid, nm)):
                    agent = candidate
        if agent:
            meta_team = str(meta.get("team") or "")
            found.append(ShoutOut(item_id, stage, "agent", agent, meta_team if meta_team in teams else home, quote))
            continue
        if not text:
            continue
        team_hit = next(
            (tid for tid, nm in teams.items() if any(_mentions(text, p) for p in _team_phrases(tid, nm))), None
        )
        if team_hit:
            found.append(ShoutOut(item_id, stage, "team", teams[team_hit], team_hit, quote))
            continue
        ordered = sorted(journey.stages, key=lambda s: s.id != stage)  # the item's own stage first
        for candidate_stage in ordered:
            keyword = next((k for k in candidate_stage.keywords if len(k) >= 3 and _mentions(text, k)), None)
            if keyword:
                target = accountable.get(candidate_stage.id, home)
                found.append(ShoutOut(item_id, stage, "touchpoint", candidate_stage.name, target, quote))
                break
    return found


_KIND_RANK = {"agent": 0, "team": 1, "touchpoint": 2}


def best_shoutouts(shoutouts: Iterable[ShoutOut], limit: int = MAX_SHOUTOUTS) -> list[ShoutOut]:
    """Agents first, then teams, then touchpoints (stable within a kind)."""
    return sorted(shoutouts, key=lambda s: _KIND_RANK.get(s.kind, 9))[:limit]


# --------------------------------------------------------------------------------------------------------------
# Reading the figures


def iso_week(when: datetime, tz: str = "UTC") -> str:
    year, week, _ = when.astimezone(ZoneInfo(tz)).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class WeekData:
    """Everything a week's digests are composed from, read once."""

    start: datetime
    end: datetime
    week: str
    stages: list[StageFigures]
    alerts: list[dict[str, Any]]
    themes: dict[str, list[ThemeFigure]]
    shoutouts: list[ShoutOut]
    teams: dict[str, Team]
    roles: dict[str, dict[str, str]]  # team -> stage -> role


def read_week(*, session: Session, journey: JourneyMap, now: datetime, tz: str = "UTC") -> WeekData:
    view = journey_view(session=session, journey=journey, window=WINDOW, now=now)
    start, end = view.start, view.end
    stages = [
        StageFigures(
            stage=card.stage,
            name=card.name,
            role="",
            health=str(card.health),
            health_reason=card.health_reason or "",
            volume=card.volume,
            negative_share=card.negative_share,
            previous_volume=card.trend.previous_volume,
            previous_negative_share=card.trend.previous_negative_share,
            direction=str(card.trend.direction),
            nps=card.nps,
            csat_mean=card.csat_mean,
            owner=card.accountable,
        )
        for card in view.stages
    ]
    a = columns(Alert)
    rows = session.execute(
        select(Alert).where(or_(a.status.in_(("open", "acknowledged")), a.last_active_at > start - ALERT_LOOKBACK))
    ).scalars()
    alerts = [
        {
            "stage": r.stage,
            "status": r.status,
            "title": r.title,
            "opened_at": r.opened_at,
            "acknowledged_at": r.acknowledged_at,
            "details": r.details,
        }
        for r in rows
    ]
    themes: dict[str, list[ThemeFigure]] = {}
    for card in view.stages:
        found = stage_themes(session=session, journey=journey, stage=card.stage, window=WINDOW, limit=TOP_THEMES)
        themes[card.stage] = [
            ThemeFigure(
                stage=card.stage,
                label=str(t.get("label") or t.get("key")),
                volume=int(t.get("volume") or 0),
                quotes=tuple(e["text"] for e in t.get("examples", []) if e.get("text"))[:QUOTES_PER_THEME],
            )
            for t in found["themes"]
        ]
    teams = {t.id: t for t in session.execute(select(Team)).scalars()}
    owners = all_owners(session=session)
    roles: dict[str, dict[str, str]] = {}
    for stage_id, own in owners.items():
        roles.setdefault(own.accountable, {})[stage_id] = "accountable"
        for team_id in own.contributing:
            roles.setdefault(team_id, {}).setdefault(stage_id, "contributing")
    f = columns(FeedbackItem)
    positives = session.execute(
        select(f.id, f.stage, f.text, f.sentiment_label, f.data)
        .where(f.sentiment_label == "positive", f.occurred_at > start, f.occurred_at <= end)
        .order_by(f.occurred_at.desc())
        .limit(MAX_POSITIVE_ITEMS)
    )
    items = [
        {
            "id": r.id,
            "stage": r.stage,
            "text": r.text,
            "sentiment_label": r.sentiment_label,
            "metadata": (r.data or {}).get("metadata") or {},
        }
        for r in positives
    ]
    shoutouts = find_shoutouts(
        items,
        journey=journey,
        teams={t.id: t.name for t in teams.values()},
        accountable={stage: own.accountable for stage, own in owners.items()},
    )
    return WeekData(start, end, iso_week(end, tz), stages, alerts, themes, shoutouts, teams, roles)


def team_figures(data: WeekData, team_id: str) -> DigestFigures:
    roles = data.roles.get(team_id, {})
    stages = [_with_role(s, roles[s.stage]) for s in data.stages if s.stage in roles]
    stage_ids = {s.stage for s in stages}
    team = data.teams.get(team_id)
    themes = sorted(
        (t for s in stages if roles[s.stage] == "accountable" for t in data.themes.get(s.stage, [])),
        key=lambda t: -t.volume,
    )[:TOP_THEMES]
    return DigestFigures(
        audience=team_id,
        title=team.name if team else team_id,
        week=data.week,
        start=data.start,
        end=data.end,
        stages=stages,
        alerts=alert_figures((a for a in data.alerts if a["stage"] in stage_ids), start=data.start, end=data.end),
        themes=themes,
        shoutouts=best_shoutouts(s for s in data.shoutouts if s.team == team_id),
    )


def leadership_figures(data: WeekData) -> DigestFigures:
    counts: dict[str, int] = {}
    for s in data.shoutouts:
        counts[s.team] = counts.get(s.team, 0) + 1
    themes = sorted((t for ts in data.themes.values() for t in ts), key=lambda t: -t.volume)[: TOP_THEMES + 2]
    return DigestFigures(
        audience=LEADERSHIP,
        title="Leadership",
        week=data.week,
        start=data.start,
        end=data.end,
        stages=data.stages,
        alerts=alert_figures(data.alerts, start=data.start, end=data.end),
        themes=themes,
        shoutouts=best_shoutouts(data.shoutouts),
        shoutout_counts=counts,
    )


def _with_role(stage: StageFigures, role: str) -> StageFigures:
    return dataclasses.replace(stage, role=role)


# --------------------------------------------------------------------------------------------------------------
# Sending


@dataclass(frozen=True)
class Recipient:
    receiver: str  # "email" / "slack"
    target: str  # an address / a webhook URL


def team_recipients(team: Team) -> list[Recipient]:
    out = []
    for r in team.receivers:
        if r.get("type") == "email" and (r.get("address") or r.get("url")):
            out.append(Recipient("email", str(r.get("address") or r.get("url")).removeprefix("mailto:")))
        elif r.get("type") == "slack" and r.get("url"):
            out.append(Recipient("slack", str(r["url"])))
    return out


def leadership_recipients(emails: str, slack_url: str) -> list[Recipient]:
    out = [Recipient("email", e.strip()) for e in emails.split(",") if e.strip()]
    if slack_url.strip():
        out.append(Recipient("slack", slack_url.strip()))
    return out


def digest_payload(figures: DigestFigures, digest: Digest, recipient: Recipient) -> dict[str, Any]:
    base = {"audience": figures.audience, "week": figures.week, "subject": digest.subject}
    if recipient.receiver == "email":
        return {**base, "to": [recipient.target], "text": digest.text, "html": digest.html}
    return {**base, "slack": digest.slack}


def enqueue(
    *,
    session: Session,
    figures: DigestFigures,
    recipients: Sequence[Recipient],
    now: datetime,
    force: bool = False,
) -> int:
    """Outbox rows for one audience's digest, unless that (audience, week) was already sent; returns rows added.
    `force` sends again (new delivery keys)."""
    run = session.get(DigestRun, (figures.audience, figures.week))
    if run is not None and not force:
        return 0
    digest = compose(figures)
    suffix = f":{now.strftime('%Y%m%dT%H%M%S%f')}" if run is not None else ""
    rows = [
        OutboxEntry(
            dedupe_key=f"digest:{figures.week}:{figures.audience}:{i}{suffix}"[:300],
            transition="digest",
            team=figures.audience[:100],
            receiver=r.receiver,
            target=r.target,
            event_type=DIGEST_EVENT,
            payload=digest_payload(figures, digest, r),
            next_attempt_at=now,
            created_at=now,
        )
        for i, r in enumerate(recipients)
    ]
    session.add_all(rows)
    if run is None:
        session.add(DigestRun(audience=figures.audience, week=figures.week, sent_at=now, rows=len(rows)))
    else:
        run.sent_at, run.rows = now, run.rows + len(rows)
        session.add(run)
    return len(rows)


def enqueue_digests(
    *,
    session: Session,
    journey: JourneyMap,
    now: datetime,
    leadership_emails: str = "",
    leadership_slack: str = "",
    tz: str = "UTC",
    only: str | None = None,
    force: bool = False,
) -> dict[str, int]:
    """Every team's digest (teams with a stage or a shout-out and an e-mail or Slack receiver) and the leadership
    digest. `only`: one audience (a team id or "leadership"). Returns rows added per audience."""
    data = read_week(session=session, journey=journey, now=now, tz=tz)
    added: dict[str, int] = {}
    for team_id, team in sorted(data.teams.items()):
        if only is not None and only != team_id:
            continue
        recipients = team_recipients(team)
        has_content = team_id in data.roles or any(s.team == team_id for s in data.shoutouts)
        if recipients and has_content:
            figures = team_figures(data, team_id)
            added[team_id] = enqueue(session=session, figures=figures, recipients=recipients, now=now, force=force)
    if only in (None, LEADERSHIP):
        recipients = leadership_recipients(leadership_emails, leadership_slack)
        if recipients:
            figures = leadership_figures(data)
            added[LEADERSHIP] = enqueue(session=session, figures=figures, recipients=recipients, now=now, force=force)
    return added


def due(now: datetime, *, weekday: int, hour: int, tz: str) -> bool:
    """Whether this ISO week's digest time (ISO weekday 1-7 at `hour`, local time) has come."""
    local = now.astimezone(ZoneInfo(tz))
    return (local.isoweekday(), local.hour) >= (weekday, hour)
