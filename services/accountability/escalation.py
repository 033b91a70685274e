"""Escalation that reaches people: a team's chain of steps (after, notify a team or a member, within working hours,
repeat), one step per housekeeping round, stopped by acknowledgement; or the single escalation of a team without
a chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from services.accountability.models import Alert
from services.accountability.rules import parse_duration
from services.accountability.transitions import Page, Transition
from shared.teams import EscalationStep


@dataclass(frozen=True)
class Chain:
    """The escalation chain of a stage's accountable team: its steps and its members' contacts."""

    team: str
    steps: Sequence[EscalationStep]
    members: dict[str, str]  # name -> contact


MAX_ESCALATION_HISTORY = 50


def advance_chain(session: Session, alert: Alert, chain: Chain, now: datetime) -> list[Transition]:
    """Take the chain's next due step of an unacknowledged alert (at most one per call, in order), or repeat the
    last one taken. Steps count `after` from the alert's opening (or its reopening). A step outside its working
    hours waits for them (`outside: wait`, the default; the steps after it wait too) or is passed by (`skip`).
    Progress lives in `details["escalation"]`."""
    state = dict(alert.details.get("escalation") or {})
    since = datetime.fromisoformat(state["since"]) if state.get("since") else alert.opened_at
    index = int(state.get("next", 0))
    history = list(state.get("history", []))
    page: Page | None = None
    while index < len(chain.steps):
        step = chain.steps[index]
        if now < since + parse_duration(step.after):
            break
        hours = step.only_within
        if hours is not None and not hours.contains(now):
            if step.outside == "skip":
                history.append({"step": index + 1, "skipped": "outside working hours", "at": now.isoformat()})
                index += 1
                continue
            state["waiting"] = {"step": index + 1, "until": hours.next_start(now).isoformat()}
            break
        page = _page(chain, step, index, 0)
        index += 1
        state["last"] = {"step": index, "at": now.isoformat(), "repeats": 0}
        break
    if page is None and state.get("last") and index == int(state["last"]["step"]):
        last = state["last"]
        taken = chain.steps[last["step"] - 1] if last["step"] <= len(chain.steps) else None
        if taken is not None and taken.repeat is not None:
            due = datetime.fromisoformat(last["at"]) + parse_duration(taken.repeat) * (1 + int(last["repeats"]))
            in_hours = taken.only_within is None or taken.only_within.contains(now)
            if now >= due and in_hours:
                state["last"] = {**last, "repeats": int(last["repeats"]) + 1}
                page = _page(chain, taken, last["step"] - 1, int(last["repeats"]) + 1)
    state["next"], state["since"] = index, since.isoformat()
    if page is None:
        if state != alert.details.get("escalation"):
            alert.details = {**alert.details, "escalation": {**state, "history": history[-MAX_ESCALATION_HISTORY:]}}
            session.add(alert)
        return []
    state.pop("waiting", None)
    history.append({"step": page.step, "to": page.to, "repeat": page.repeat, "at": now.isoformat()})
    alert.details = {**alert.details, "escalation": {**state, "history": history[-MAX_ESCALATION_HISTORY:]}}
    alert.escalated_at = alert.escalated_at or now
    alert.escalated_to = page.to[:200]
    alert.version += 1
    session.add(alert)
    return [Transition(alert, "escalated", page=page)]


def _page(chain: Chain, step: EscalationStep, index: int, repeat: int) -> Page:
    if step.notify.member is not None:
        member = step.notify.member
        return Page(index + 1, chain.team, member=member, contact=chain.members.get(member), repeat=repeat)
    return Page(index + 1, step.notify.team or chain.team, repeat=repeat)


def escalate(session: Session, alert: Alert, escalation_of: dict[str, str | None], now: datetime) -> Transition:
    alert.escalated_at = now
    alert.escalated_to = escalation_of.get(alert.stage) or None
    alert.version += 1
    session.add(alert)
    return Transition(alert, "escalated")
