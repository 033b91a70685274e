"""The outbox: deliveries written in the same transaction as the change they announce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from services.accountability import evidence
from services.accountability.models import Alert, OutboxEntry, Silence, Team, columns
from services.accountability.ownership import mask_url, stage_teams
from services.accountability.rules import DeliveryStatus
from services.accountability.silences import active_silence
from services.accountability.transitions import Page, Transition
from shared.models import EventType
from shared.teams import contact_kind

# Which transitions reach the teams' webhooks and Slack; every transition goes to the alerts topic.
NOTIFY_TEAMS = ("opened", "acknowledged", "escalated", "resolved", "verified", "reopened")
ALL_TEAMS = "*"


def alert_payload(alert: Alert, transition: str, *, accountable: str, contributing: list[str]) -> dict[str, Any]:
    """The alert as receivers and the `cx.alerts` topic see it: who owns it (`owners`) and why it fired
    (`evidence`: counts by source and channel, top terms, representative items, and the window or items behind it)."""
    return {
        "id": alert.id,
        "transition": transition,
        "version": alert.version,
        "stage": alert.stage,
        "rule_id": alert.rule_id,
        "rule_kind": alert.rule_kind,
        "status": alert.status,
        "title": alert.title,
        "count": alert.count,
        "silenced": alert.silenced,
        "opened_at": _iso(alert.opened_at),
        "last_seen_at": _iso(alert.last_seen_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by,
        "escalated_at": _iso(alert.escalated_at),
        "escalated_to": alert.escalated_to,
        "resolved_at": _iso(alert.resolved_at),
        "resolved_by": alert.resolved_by,
        "inhibited_by": alert.inhibited_by,
        "incident_id": alert.incident_id,
        "details": evidence.public_details(alert.details),
        "owners": {"accountable": accountable, "contributing": contributing},
        "evidence": evidence.of(alert),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def enqueue_transition(*, session: Session, transition: Transition, alerts_topic: str, now: datetime) -> int:
    """Outbox rows for one transition: the topic event, and each receiver of every owning team. Returns rows added."""
    alert, name = transition.alert, transition.name
    accountable, contributing = stage_teams(session=session, stage=alert.stage)
    payload = alert_payload(alert, name, accountable=accountable, contributing=contributing)
    event_type = f"io.journeyline.alert.{name}"
    base = f"alert:{alert.id}:{alert.version}:{name}"
    rows = [
        OutboxEntry(
            dedupe_key=f"{base}:kafka",
            alert_id=alert.id,
            transition=name,
            team=ALL_TEAMS,
            receiver="kafka",
            target=alerts_topic,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
    ]
    if transition.page is not None:
        payload["escalation"] = {
            "step": transition.page.step,
            "to": transition.page.to,
            "member": transition.page.member,
            "repeat": transition.page.repeat,
        }
    silenced = active_silence(session=session, stage=alert.stage, rule_id=alert.rule_id, now=now) is not None
    # An inhibited alert is recorded and published on the topic, never delivered to teams while its cause is open.
    muted = silenced or alert.inhibited_by is not None
    if transition.page is not None:
        if not muted:
            rows.extend(_page_rows(session, transition.page, payload, base, event_type, alert.id, name, now))
    elif name in NOTIFY_TEAMS and not muted:
        team_ids = [accountable, *contributing]
        if name == "escalated" and alert.escalated_to:
            team_ids.append(alert.escalated_to)
        found = {t.id: t for t in session.execute(select(Team).where(Team.id.in_(team_ids))).scalars()}  # type: ignore[attr-defined]
        for team_id in dict.fromkeys(team_ids):
            team = found.get(team_id)
            for index, receiver in enumerate(team.receivers if team else []):
                kind = receiver.get("type")
                if kind not in ("webhook", "slack") or not receiver.get("url"):
                    continue  # kafka receivers are served by the topic event; email is not delivered from here
                rows.append(
                    OutboxEntry(
                        dedupe_key=f"{base}:{team_id}:{index}",
                        alert_id=alert.id,
                        transition=name,
                        team=team_id,
                        receiver=kind,
                        target=receiver["url"],
                        secret=receiver.get("secret"),
                        event_type=event_type,
                        payload={**payload, "team": team_id, "role": _role(team_id, accountable, contributing)},
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
    session.add_all(rows)
    return len(rows)


def _page_rows(
    session: Session,
    page: Page,
    payload: dict[str, Any],
    base: str,
    event_type: str,
    alert_id: str,
    name: str,
    now: datetime,
) -> list[OutboxEntry]:
    """An escalation step's deliveries: one row to the member's contact (e-mail rows carry receiver `email`), or
    one per webhook/Slack receiver of the team the step names."""

    def row(key: str, team: str, receiver: str, target: str, secret: str | None, extra: dict[str, Any]) -> OutboxEntry:
        return OutboxEntry(
            dedupe_key=f"{base}:{key}"[:300],
            alert_id=alert_id,
            transition=name,
            team=team,
            receiver=receiver,
            target=target,
            secret=secret,
            event_type=event_type,
            payload={**payload, **extra},
            next_attempt_at=now,
            created_at=now,
        )

    if page.member is not None:
        if not page.contact:
            return []  # the member left the team since the chain was written: the topic event still says so
        try:
            kind = contact_kind(page.contact)
        except ValueError:
            return []
        extra = {"team": page.team, "role": "escalation", "member": page.member}
        return [row(f"member:{page.team}:{page.member}", page.team, kind, page.contact, None, extra)]
    team = session.get(Team, page.team)
    rows = []
    for index, receiver in enumerate(team.receivers if team else []):
        receiver_type = str(receiver.get("type"))
        if receiver_type in ("webhook", "slack") and receiver.get("url"):
            extra = {"team": page.team, "role": "escalation"}
            target, secret = receiver["url"], receiver.get("secret")
            rows.append(row(f"{page.team}:{index}", page.team, receiver_type, target, secret, extra))
    return rows


def enqueue_silence_reminder(
    *, session: Session, silence: Silence, contact: str | None, alerts_topic: str, now: datetime
) -> int:
    """Tell a silence's creator it is still in force: the topic event always, and a row to their contact when
    a team lists the creator as a member. Returns rows added."""
    payload = {
        "silence_id": silence.id,
        "stage": silence.stage,
        "rule_id": silence.rule_id,
        "reason": silence.reason,
        "starts_at": _iso(silence.starts_at),
        "ends_at": _iso(silence.ends_at),
        "rrule": silence.rrule,
        "created_by": silence.created_by,
        "created_at": _iso(silence.created_at),
    }
    event_type = "io.journeyline.silence.reminder"
    base = f"silence:{silence.id}:reminder"
    rows = [
        OutboxEntry(
            dedupe_key=f"{base}:kafka",
            transition="silence_reminder",
            team=ALL_TEAMS,
            receiver="kafka",
            target=alerts_topic,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
    ]
    kind = None
    if contact:
        try:
            kind = contact_kind(contact)
        except ValueError:
            kind = None
    if contact and kind:
        rows.append(
            OutboxEntry(
                dedupe_key=f"{base}:creator",
                transition="silence_reminder",
                team=ALL_TEAMS,
                receiver=kind,
                target=contact,
                event_type=event_type,
                payload={**payload, "member": silence.created_by},
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.add_all(rows)
    return len(rows)


def _role(team: str, accountable: str, contributing: list[str]) -> str:
    if team == accountable:
        return "accountable"
    return "contributing" if team in contributing else "escalation"


def enqueue_correction(*, session: Session, data: dict[str, Any], corrections_topic: str, now: datetime) -> None:
    """The `io.journeyline.feedback.corrected` event for the classify service (training data)."""
    session.add(
        OutboxEntry(
            dedupe_key=f"correction:{data['id']}:{data['at']}",
            transition="corrected",
            team=ALL_TEAMS,
            receiver="kafka",
            target=corrections_topic,
            event_type=EventType.feedback_corrected.value,
            payload=data,
            next_attempt_at=now,
            created_at=now,
        )
    )


def _shown_target(receiver: str, target: str) -> str:
    """A receiver's address as readers see it: a Slack webhook URL (itself the credential) shows only its host."""
    return mask_url(target) if receiver == "slack" else target


def history(*, session: Session, alert_id: str, after: int = 0, limit: int = 100) -> list[OutboxEntry]:
    """An alert's notifications (one row per transition and receiver, kept after delivery), oldest first."""
    o = columns(OutboxEntry)
    query = select(OutboxEntry).where(o.alert_id == alert_id, o.id > after).order_by(o.id).limit(limit)
    return list(session.execute(query).scalars())


def record_public(row: OutboxEntry) -> dict[str, Any]:
    """One notification as readers see it (never the receiver's secret)."""
    return {
        "id": row.id or 0,
        "transition": row.transition,
        "event_type": row.event_type,
        "team": row.team,
        "receiver": row.receiver,
        "target": _shown_target(row.receiver, row.target),
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "next_attempt_at": row.next_attempt_at if row.status == DeliveryStatus.pending else None,
        "delivered_at": row.delivered_at,
    }


MAX_STATE_ROWS = 5_000  # an alert's notifications read for its delivery states (newest first)


def delivery_states(*, session: Session, alert_id: str) -> list[dict[str, Any]]:
    """Per team and receiver: the latest notification's status and transition, attempts over all of them, the
    last error, when the latest delivered one arrived. The topic first, then teams in order."""
    o = columns(OutboxEntry)
    query = select(OutboxEntry).where(o.alert_id == alert_id).order_by(o.id.desc()).limit(MAX_STATE_ROWS)
    states: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in reversed(list(session.execute(query).scalars())):
        key = (row.team, row.receiver, row.target)
        state = states.setdefault(
            key,
            {
                "team": row.team,
                "receiver": row.receiver,
                "target": _shown_target(row.receiver, row.target),
                "notifications": 0,
                "attempts": 0,
                "last_error": None,
                "delivered_at": None,
            },
        )
        state["notifications"] += 1
        state["attempts"] += row.attempts
        state["status"], state["last_transition"] = row.status, row.transition
        if row.last_error:
            state["last_error"] = row.last_error
        elif row.status == DeliveryStatus.delivered:
            state["last_error"] = None  # a later success clears an earlier failure
        if row.delivered_at is not None:
            state["delivered_at"] = row.delivered_at
    return sorted(states.values(), key=lambda s: (s["team"] != ALL_TEAMS, s["team"], s["receiver"], s["target"]))
