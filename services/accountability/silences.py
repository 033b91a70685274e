"""Silences: mute a stage's or a rule's team deliveries for a while, or during each occurrence of a recurrence.

A silence never drops an alert: the alert is still stored (`silenced: true`) and published on `cx.alerts`; only the
teams' webhooks, Slack and e-mail stay quiet. A recurring silence (RFC 5545 RRULE, e.g. the weekly billing run)
mutes only inside its occurrences; the work to check one is bounded by its number of occurrences and its span.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from dateutil.rrule import rrule, rruleset, rrulestr
from sqlalchemy import or_, select
from sqlmodel import Session

from services.accountability.models import Silence, columns

# A recurring silence may have at most this many occurrences, and last at most this long overall: every check
# walks its occurrences from the first up to now, so both bound the work.
MAX_OCCURRENCES = 2_000
MAX_RECURRING_SPAN = timedelta(days=366)


class RecurrenceError(ValueError):
    """An RRULE a silence cannot use: unparseable, without a time zone, without an end, or too many occurrences."""


def recurrence(text: str, starts_at: datetime) -> rrule | rruleset:
    """The RFC 5545 recurrence (`FREQ=WEEKLY;BYDAY=MO;BYHOUR=2`, optionally with `DTSTART;TZID=...:` lines)
    starting at `starts_at` unless the text gives its own DTSTART."""
    body = text.strip()
    if not body:
        raise RecurrenceError("rrule: empty")
    if len(body) > 2000:
        raise RecurrenceError("rrule: at most 2000 characters")
    try:
        rule = rrulestr(body, dtstart=starts_at, forceset=False, cache=False)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RecurrenceError(f"rrule: not an RFC 5545 recurrence rule: {exc}") from None
    try:
        rule.after(starts_at - timedelta(days=1))  # a naive DTSTART cannot be compared with an aware time
    except TypeError:
        raise RecurrenceError("rrule: DTSTART needs a time zone (TZID=... or a trailing Z)") from None
    except (ValueError, OverflowError) as exc:
        raise RecurrenceError(f"rrule: {exc}") from None
    return rule


def plan_recurring(
    text: str, *, starts_at: datetime, duration: timedelta, ends_at: datetime | None
) -> tuple[datetime, datetime]:
    """(first occurrence, end of the last) of a recurring silence: ends at `ends_at`, or with the rule's own
    COUNT/UNTIL; at most MAX_OCCURRENCES occurrences within MAX_RECURRING_SPAN. RecurrenceError otherwise."""
    if duration <= timedelta(0) or duration > timedelta(days=7):
        raise RecurrenceError("duration: each occurrence lasts more than 0 seconds and at most 7 days")
    rule = recurrence(text, starts_at)
    try:
        first = rule.after(starts_at, inc=True)
        horizon = starts_at + MAX_RECURRING_SPAN
        limit = min(ends_at, horizon) if ends_at is not None else horizon
        found = list(rule.xafter(starts_at, count=MAX_OCCURRENCES + 1, inc=True))
    except (ValueError, TypeError, OverflowError) as exc:
        raise RecurrenceError(f"rrule: {exc}") from None
    if first is None:
        raise RecurrenceError("rrule: no occurrence at or after the start")
    within = [o for o in found if o < limit]
    if len(within) > MAX_OCCURRENCES:
        raise RecurrenceError(f"rrule: more than {MAX_OCCURRENCES} occurrences; use a coarser rule or a shorter span")
    if ends_at is None:
        if len(found) > len(within):
            raise RecurrenceError("rrule: give ends_at, or COUNT or UNTIL ending within a year")
        ends_at = within[-1] + duration
    return first.astimezone(UTC), ends_at.astimezone(UTC)


def silence_covers(silence: Silence, now: datetime) -> bool:
    """Whether the silence mutes now: inside [starts_at, ends_at) and, if recurring, inside an occurrence."""
    if not (silence.starts_at <= now < silence.ends_at):
        return False
    if not silence.rrule:
        return True
    try:
        last = recurrence(silence.rrule, silence.starts_at).before(now, inc=True)
    except (RecurrenceError, TypeError, ValueError):
        return False  # validated when it was created; a rule that stopped parsing mutes nothing
    return last is not None and now < last + timedelta(seconds=silence.duration_s or 0)


def active_silence(*, session: Session, stage: str, rule_id: str, now: datetime) -> Silence | None:
    """A silence that covers this stage and rule now, if any."""
    query = select(Silence).where(
        columns(Silence).starts_at <= now,
        columns(Silence).ends_at > now,
        or_(columns(Silence).stage.is_(None), columns(Silence).stage == stage),
        or_(columns(Silence).rule_id.is_(None), columns(Silence).rule_id == rule_id),
    )
    return next((s for s in session.execute(query.limit(100)).scalars() if silence_covers(s, now)), None)


def create_silence(
    *,
    session: Session,
    stage: str | None,
    rule_id: str | None,
    ends_at: datetime | None,
    reason: str,
    by: str,
    now: datetime,
    starts_at: datetime | None = None,
    rrule: str | None = None,
    duration: timedelta | None = None,
) -> Silence:
    """A silence from `starts_at` (default now) to `ends_at`; with `rrule`, only during each occurrence
    (`duration` long), ending at `ends_at` or with the rule's COUNT/UNTIL (RecurrenceError if it cannot)."""
    start = starts_at or now
    if rrule:
        start, ends_at = plan_recurring(rrule, starts_at=start, duration=duration or timedelta(0), ends_at=ends_at)
    if ends_at is None:
        raise ValueError("a silence needs an end")
    silence = Silence(
        id=str(uuid.uuid4()),
        stage=stage,
        rule_id=rule_id,
        reason=reason,
        starts_at=start,
        ends_at=ends_at,
        created_by=by,
        created_at=now,
        rrule=rrule.strip() if rrule else None,
        duration_s=duration.total_seconds() if rrule and duration else None,
    )
    session.add(silence)
    return silence


def silences_to_remind(*, session: Session, now: datetime, remind_after: timedelta) -> list[Silence]:
    """Silences created at least `remind_after` ago that have not ended and whose creator was not reminded yet;
    each is marked reminded (the caller tells the creator, in the same transaction)."""
    s = columns(Silence)
    query = select(Silence).where(s.reminded_at.is_(None), s.ends_at > now, s.created_at <= now - remind_after)
    found = list(session.execute(query.order_by(s.created_at).limit(100)).scalars())
    for silence in found:
        silence.reminded_at = now
        session.add(silence)
    return found


def list_silences(*, session: Session, active_at: datetime | None = None) -> list[Silence]:
    query = select(Silence).order_by(columns(Silence).created_at.desc())
    if active_at is not None:
        query = query.where(columns(Silence).ends_at > active_at)
    return list(session.execute(query).scalars())
