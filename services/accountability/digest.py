"""Weekly digests and shout-outs.

Two layers:

* composition, pure (`digest_figures`: `alert_figures`, `find_shoutouts`; `digest_text`: `compose`): plain data in,
  a subject, a plain-text body, an HTML body and a Slack-compatible message out. No database, no clock.
* gathering and sending, this module (`gather`, `enqueue_digests`, `send_due`): read the week's figures (scorecards, alerts,
  themes, positive items), compose one digest per team and one for leadership, and write one outbox row per
  receiver (e-mail and Slack). `acct_digests` remembers which (audience, ISO week) was sent, so a restart never
  sends a week's digest twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlmodel import Session

from services.accountability.digest_figures import (
    DigestFigures,
    ShoutOut,
    StageFigures,
    ThemeFigure,
    alert_figures,
    best_shoutouts,
    find_shoutouts,
)
from services.accountability.digest_text import Digest, compose
from services.accountability.models import Alert, DigestRun, FeedbackItem, OutboxEntry, Team, columns
from services.accountability.ownership import all_owners
from services.accountability.scorecard import journey_view
from services.accountability.theme_reads import stage_themes
from shared.journey import JourneyMap

DIGEST_EVENT = "io.journeyline.digest.weekly"
LEADERSHIP = "leadership"  # the audience id of the leadership digest (also its `acct_digests.audience`)
WINDOW = "7d"
TOP_THEMES = 3
QUOTES_PER_THEME = 2

MAX_POSITIVE_ITEMS = 5_000  # positive items read for shout-outs per digest run
ALERT_LOOKBACK = timedelta(days=90)  # alerts older than this (and closed) are not read


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
    digest. `only`: one audience (a team id or "leadership"). Returns rows added per audience.

    The service checks every few minutes from the digest's time to the week's end: once every audience that has a
    receiver has had this week's digest, the check reads nothing of the week (it read every item of the week
    each time, 3.5 s under load at 2,000 events/s, with the store waiting for the interpreter meanwhile)."""
    if not force:
        audiences = _with_receivers(session, leadership_emails, leadership_slack, only)
        week = iso_week(now, tz)
        d = columns(DigestRun)
        sent = set(session.execute(select(d.audience).where(d.week == week)).scalars())
        if audiences <= sent:
            return dict.fromkeys(sorted(audiences), 0)
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


def _with_receivers(session: Session, emails: str, slack_url: str, only: str | None) -> set[str]:
    """The audiences that could be sent a digest: teams with an e-mail or Slack receiver, and leadership if it has
    one (`only`: that audience alone)."""
    audiences = {t.id for t in session.execute(select(Team)).scalars() if team_recipients(t)}
    if leadership_recipients(emails, slack_url):
        audiences.add(LEADERSHIP)
    return audiences if only is None else audiences & {only}


def due(now: datetime, *, weekday: int, hour: int, tz: str) -> bool:
    """Whether this ISO week's digest time (ISO weekday 1-7 at `hour`, local time) has come."""
    local = now.astimezone(ZoneInfo(tz))
    return (local.isoweekday(), local.hour) >= (weekday, hour)
