"""What an alert's lifecycle hands to the outbox: transitions, escalation pages, and the errors of a step that does
not apply. Shared by alerts, verification and escalation (none of which needs the others to name these)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from services.accountability.models import Alert


class AlertStateError(ValueError):
    """A lifecycle step that does not apply to the alert's current status."""


class ResolutionError(ValueError):
    """A resolution without what it needs: a known resolution code, and a note for a window alert."""


@dataclass(frozen=True)
class Page:
    """Whom one escalation-chain step reaches: a team's receivers, or one member at their contact."""

    step: int  # 1-based, as people count the chain's steps
    team: str  # the chain's team (a member's team), or the team notified
    member: str | None = None
    contact: str | None = None
    repeat: int = 0  # 0: the step itself; n: its n-th repetition

    @property
    def to(self) -> str:
        return self.member if self.member is not None else self.team


@dataclass(frozen=True)
class Transition:
    alert: Alert
    name: str  # opened | updated | acknowledged | escalated | resolved | verified | reopened
    publish: bool = True  # `updated` is published only when the count doubles, not on every repeat
    page: Page | None = None  # an escalation-chain step: delivered only to the step's team or member


def open_key(stage: str, rule_id: str) -> str:
    return f"{stage}:{rule_id}"


def get_alert(session: Session, alert_id: str) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise KeyError(alert_id)
    return alert
