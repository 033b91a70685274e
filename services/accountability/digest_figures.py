"""The figures a weekly digest is made of, as plain data: a stage's week, its alerts, themes and shout-outs. Pure:
`alert_figures` and the shout-out finders take rows in and give figures out (no database, no clock)."""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.journey import UNASSIGNED, JourneyMap

MAX_SHOUTOUTS = 5


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


# --------------------------------------------------------------------------------------------------------------
# Composition


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
