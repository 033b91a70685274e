"""Teams, receivers and stage ownership: seeded from the journey map, changed through the API, audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from services.accountability.models import AuditEntry, StageOwnership, Team, columns
from shared.journey import UNASSIGNED, JourneyMap


class OwnershipError(ValueError):
    """A change that names an unknown stage or team."""


def seed(*, session: Session, journey: JourneyMap, now: datetime) -> None:
    """Insert the journey map's teams and owners that the database does not know yet (never overwrite)."""
    known_teams = {t.id for t in session.execute(select(Team)).scalars()}
    for team in journey.teams:
        if team.id not in known_teams:
            receivers = [r.model_dump(exclude_none=True) for r in team.receivers]
            session.add(
                Team(
                    id=team.id,
                    name=team.name,
                    escalation=team.escalation,
                    receivers=receivers,
                    members=[m.model_dump() for m in team.members],
                    chain=[c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in team.chain],
                    updated_at=now,
                )
            )
    known_stages = {o.stage for o in session.execute(select(StageOwnership)).scalars()}
    for stage_id in journey.stage_ids:
        if stage_id in known_stages:
            continue
        owners = journey.owners(stage_id)
        session.add(
            StageOwnership(
                stage=stage_id, accountable=owners.accountable, contributing=list(owners.contributing), updated_at=now
            )
        )


def owners_of(*, session: Session, stage: str) -> StageOwnership | None:
    return session.get(StageOwnership, stage)


def all_owners(*, session: Session) -> dict[str, StageOwnership]:
    return {o.stage: o for o in session.execute(select(StageOwnership)).scalars()}


def teams(*, session: Session) -> dict[str, Team]:
    return {t.id: t for t in session.execute(select(Team).order_by(columns(Team).id)).scalars()}


def audit(*, session: Session, actor: str, action: str, subject: str, before: Any, after: Any, at: datetime) -> None:
    """Record one change: who, what, when, and the values before and after."""
    session.add(AuditEntry(at=at, actor=actor, action=action, subject=subject, before=before or {}, after=after or {}))


def set_owners(
    *,
    session: Session,
    journey: JourneyMap,
    stage: str,
    accountable: str,
    contributing: list[str],
    by: str,
    at: datetime,
) -> StageOwnership:
    """Make `accountable` the stage's one accountable team and `contributing` its contributors (audited)."""
    if stage not in journey.stage_ids:
        raise OwnershipError(f"unknown stage {stage!r}")
    known = teams(session=session)
    contributing = list(dict.fromkeys(t for t in contributing if t != accountable))
    unknown = [t for t in [accountable, *contributing] if t not in known]
    if unknown:
        raise OwnershipError(f"unknown team(s): {', '.join(unknown)}")
    row = session.get(StageOwnership, stage) or StageOwnership(stage=stage, accountable=accountable, updated_at=at)
    before = (
        {"accountable": row.accountable, "contributing": list(row.contributing)}
        if row.contributing or row.accountable
        else {}
    )
    row.accountable, row.contributing, row.updated_at = accountable, contributing, at
    session.add(row)
    audit(
        session=session,
        actor=by,
        action="ownership.update",
        subject=f"stage:{stage}",
        before=before,
        after={"accountable": accountable, "contributing": contributing},
        at=at,
    )
    return row


def upsert_team(
    *,
    session: Session,
    team_id: str,
    name: str | None,
    escalation: str | None,
    receivers: list[dict[str, Any]] | None,
    by: str,
    at: datetime,
    members: list[dict[str, Any]] | None = None,
    chain: list[dict[str, Any]] | None = None,
) -> Team:
    """Create a team or change its name, escalation target, receivers, members or escalation chain (audited;
    secrets never logged). `members` and `chain` are `shared.journey.Member` / `EscalationStep` as JSON."""
    row = session.get(Team, team_id)
    before = _team_view(row) if row else {}
    if row is None:
        row = Team(
            id=team_id,
            name=name or team_id,
            escalation=escalation,
            receivers=receivers or [],
            members=members or [],
            chain=chain or [],
            updated_at=at,
        )
    else:
        if name is not None:
            row.name = name
        if escalation is not None:
            row.escalation = escalation or None
        if receivers is not None:
            row.receivers = receivers
        if members is not None:
            row.members = members
        if chain is not None:
            row.chain = chain
        row.updated_at = at
    session.add(row)
    audit(
        session=session,
        actor=by,
        action="team.upsert",
        subject=f"team:{team_id}",
        before=before,
        after=_team_view(row),
        at=at,
    )
    return row


def _team_view(team: Team) -> dict[str, Any]:
    return {
        "name": team.name,
        "escalation": team.escalation,
        "receivers": redact_receivers(team.receivers),
        "members": redact_members(team.members),
        "chain": list(team.chain),
    }


def redact_members(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Members as readers see them: a Slack webhook contact (itself a credential) shows only its host."""
    out = []
    for m in members:
        contact = m.get("contact")
        slack = isinstance(contact, str) and contact.startswith("http") and ".slack.com" in contact.split("/")[2]
        out.append({**m, "contact": mask_url(contact)} if slack and isinstance(contact, str) else dict(m))
    return out


def redact_receivers(receivers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Receivers as shown to readers and the audit log: a secret is only said to exist, and a Slack webhook URL
    (which is itself the credential) shows only its host."""
    out = []
    for r in receivers:
        shown = {k: v for k, v in r.items() if k != "secret"}
        if r.get("secret"):
            shown["secret"] = "***"  # noqa: S105 - a mask, not a secret
        if r.get("type") == "slack" and isinstance(r.get("url"), str):
            shown["url"] = mask_url(r["url"])
        out.append(shown)
    return out


def mask_url(url: str) -> str:
    """`https://hooks.slack.com/***`: the scheme and host, never the path that grants posting."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}/***" if rest else "***"


def audit_log(*, session: Session, subject: str | None = None, limit: int = 100) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(columns(AuditEntry).id.desc()).limit(limit)
    if subject:
        query = query.where(columns(AuditEntry).subject == subject)
    return list(session.execute(query).scalars())


def stage_teams(*, session: Session, stage: str) -> tuple[str, list[str]]:
    """(accountable, contributing) for a stage; unknown stages fall back to the triage stage's owners."""
    row = session.get(StageOwnership, stage) or session.get(StageOwnership, UNASSIGNED)
    if row is None:
        return ("", [])
    return row.accountable, list(row.contributing)
