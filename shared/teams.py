"""Teams of the journey map: who they are, where their alerts go, their members, working hours and escalation
chains."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def checked_duration(value: str | int | float) -> str | int | float:
    """`90s`, `15m`, `1h`, `30d`, or a number of seconds."""
    if isinstance(value, str) and not re.fullmatch(r"\s*\d+(?:\.\d+)?\s*[smhd]\s*", value):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 15m, 1h, 7d)")
    if not isinstance(value, str) and value <= 0:
        raise ValueError("a duration must be positive")
    return value


Duration = Annotated[str | int | float, AfterValidator(checked_duration)]


class Receiver(BaseModel):
    """Where a team's alerts go. Lengths are those the database holds (the outbox's target and secret columns)."""

    type: Literal["webhook", "slack", "kafka", "email"]
    url: str | None = Field(default=None, max_length=1000)
    secret: str | None = Field(default=None, max_length=500)
    address: str | None = Field(default=None, max_length=320)


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_EMAIL = re.compile(r"^[^@\s/:]+@[^@\s/:]+\.[^@\s/:]+$")


def contact_kind(contact: str) -> Literal["email", "slack", "webhook"]:
    """How a member is reached: an e-mail address, a Slack incoming-webhook URL, or any other http(s) URL."""
    if contact.startswith(("http://", "https://")):
        host = contact.split("://", 1)[1].split("/", 1)[0].rpartition("@")[2].lower()
        return "slack" if host == "hooks.slack.com" or host.endswith(".slack.com") else "webhook"
    if _EMAIL.match(contact):
        return "email"
    raise ValueError(f"contact {contact!r}: give an e-mail address or an http(s) URL")


class Member(BaseModel):
    """A person of a team an escalation step can notify directly."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=3, max_length=1000)

    @model_validator(mode="after")
    def _contact(self) -> Member:
        contact_kind(self.contact)
        return self


class WorkingHours(BaseModel):
    """`{days: mon-fri, from: "09:00", to: "18:00", tz: Europe/Berlin}`: [from, to) on those days, local time."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    days: str = "mon-fri"
    start: str = Field(default="09:00", alias="from", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="18:00", alias="to", pattern=r"^([01]\d|2[0-4]):[0-5]\d$")
    tz: str = "UTC"

    @model_validator(mode="after")
    def _valid(self) -> WorkingHours:
        self.weekdays()
        self.zone()
        if self.end <= self.start:
            raise ValueError(f"working hours: 'to' ({self.end}) must be after 'from' ({self.start})")
        return self

    def weekdays(self) -> frozenset[int]:
        """`mon-fri`, `sat,sun`, `mon-wed,fri` as weekday numbers (Monday 0)."""
        out: set[int] = set()
        for part in (p.strip().lower() for p in self.days.split(",")):
            first, _, last = part.partition("-")
            if first not in _DAYS or (last and last not in _DAYS):
                raise ValueError(f"working hours: days {self.days!r}: use e.g. mon-fri or sat,sun")
            a, b = _DAYS.index(first), _DAYS.index(last or first)
            out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        return frozenset(out)

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"working hours: unknown time zone {self.tz!r}") from None

    def _bounds(self, day: date) -> tuple[datetime, datetime]:
        zone = self.zone()
        h1, m1 = (int(x) for x in self.start.split(":"))
        h2, m2 = (int(x) for x in self.end.split(":"))
        begin = datetime.combine(day, time(h1, m1), tzinfo=zone)
        end = datetime.combine(day, time(0), tzinfo=zone) + timedelta(hours=h2, minutes=m2)
        return begin, end

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(self.zone())
        if local.weekday() not in self.weekdays():
            return False
        begin, end = self._bounds(local.date())
        return begin <= at < end

    def next_start(self, at: datetime) -> datetime:
        """`at` itself inside working hours, else when they next begin (looked up at most eight days ahead)."""
        if self.contains(at):
            return at
        local = at.astimezone(self.zone())
        days = self.weekdays()
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            if day.weekday() in days:
                begin, _ = self._bounds(day)
                if begin > at:
                    return begin.astimezone(at.tzinfo)
        raise ValueError("working hours: no day of the week is a working day")  # unreachable: days is never empty


class Notify(BaseModel):
    """Whom an escalation step reaches: a team (its receivers) or one member of the chain's team."""

    model_config = ConfigDict(extra="forbid")

    team: str | None = Field(default=None, max_length=100)
    member: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one(self) -> Notify:
        if (self.team is None) == (self.member is None):
            raise ValueError("notify: give exactly one of team or member")
        return self

    @property
    def label(self) -> str:
        return f"team:{self.team}" if self.team else f"member:{self.member}"


class EscalationStep(BaseModel):
    """One step of a chain: `after` the alert opened (unacknowledged), notify a team or a member. `only_within`:
    only in those working hours (`outside: wait` holds the chain until they begin; `skip` passes the step by).
    `repeat`: notify again at this interval until acknowledged or the next step is taken."""

    model_config = ConfigDict(extra="forbid")

    after: Duration = "0s"
    notify: Notify
    only_within: WorkingHours | None = None
    outside: Literal["wait", "skip"] = "wait"
    repeat: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _zero(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("after") in (0, "0", 0.0):
            data = {**data, "after": "0s"}
        return data


class Team(BaseModel):
    id: str
    name: str
    receivers: list[Receiver] = Field(default_factory=list)
    escalation: str | None = Field(default=None, description="Team id (or address) to escalate to")
    members: list[Member] = Field(default_factory=list)
    # Replaces the single `escalation` for the team's alerts when given: steps in order, stopped by acknowledge.
    chain: list[EscalationStep] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _chain(self) -> Team:
        names = [m.name for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError(f"team {self.id!r}: member names must be unique")
        for index, step in enumerate(self.chain):
            if step.notify.member is not None and step.notify.member not in names:
                raise ValueError(f"team {self.id!r} chain step {index + 1}: no member {step.notify.member!r}")
        return self
