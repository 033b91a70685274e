"""The journey map: stages in order, teams, who owns each stage, moments of truth and alert rules."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.teams import Duration, Team

UNASSIGNED = "unassigned"


class HealthThresholds(BaseModel):
    """Bounds for a stage's health colour: worse than `red_*` is red, worse than `yellow_*` is yellow."""

    yellow_negative_share: float = 0.25
    red_negative_share: float = 0.40
    yellow_csat_below: float = 3.8
    red_csat_below: float = 3.2
    min_volume: int = 5


class PinnedTheme(BaseModel):
    """A theme a company names itself: an item of the stage belongs to it when its text contains a seed phrase.

    The `id` is its identity over time (rename it, add seeds: its history stays); `name` is the label shown.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    phrases: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _wordy(self) -> PinnedTheme:
        empty = [p for p in self.phrases if not re.search(r"[^\W\d_]", p)]
        if empty:
            raise ValueError(f"theme {self.id!r}: a seed phrase needs at least one word, not {empty[0]!r}")
        return self


class Stage(BaseModel):
    id: str
    name: str
    order: int
    description: str = ""
    examples: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    # Keywords in other languages, by ISO 639-1 code (`keywords` are English). `keywords: {en: [...], fr: [...]}`
    # is read as the same thing.
    keywords_by_language: dict[str, list[str]] = Field(default_factory=dict)
    health: HealthThresholds = Field(default_factory=HealthThresholds)
    themes: list[PinnedTheme] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _keywords_per_language(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("keywords"), dict):
            by_language = {str(k): v for k, v in data["keywords"].items()}
            data = {**data, "keywords": by_language.pop("en", [])}
            data["keywords_by_language"] = {**by_language, **(data.get("keywords_by_language") or {})}
        return data

    @model_validator(mode="after")
    def _unique_themes(self) -> Stage:
        ids = [t.id for t in self.themes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"stage {self.id!r}: theme ids must be unique")
        return self


class AlertMatch(BaseModel):
    """An alert by stage and rule id (either may be left out: any)."""

    model_config = ConfigDict(extra="forbid")

    stage: str | None = None
    rule: str | None = None

    def matches(self, stage: str, rule_id: str) -> bool:
        return (self.stage is None or self.stage == stage) and (self.rule is None or self.rule == rule_id)


class InhibitRule(BaseModel):
    """While an alert matching `cause` is open (or acknowledged), alerts matching `mute` open inhibited: recorded
    and published on the alerts topic with `inhibited_by`, but not delivered to teams."""

    model_config = ConfigDict(extra="forbid")

    cause: AlertMatch
    mute: AlertMatch


class Incidents(BaseModel):
    """Alerts that open within `window` of each other share an incident id."""

    model_config = ConfigDict(extra="forbid")

    window: Duration = "15m"


class Ownership(BaseModel):
    stage: str
    accountable: str
    contributing: list[str] = Field(default_factory=list)


class MetadataRule(BaseModel):
    """A rule from a source's metadata to a stage, e.g. disposition code REFUND_ISSUED → pay."""

    id: str
    field: str
    values: list[str]
    stage: str
    confidence: float = 0.95


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RepeatContactParams(_Params):
    count: int = Field(default=3, ge=1)
    within: Duration = "30d"
    kinds: list[str] | None = None


class NthEventParams(_Params):
    kind: str | None = None
    n: int = Field(default=1, ge=1)


class FirstEventParams(_Params):
    kind: str | None = None


class NegativeShareParams(_Params):
    window: Duration = "1h"
    min_volume: int = Field(default=20, ge=1)
    threshold: float | None = Field(default=None, ge=0, le=1)
    # How long after a person resolves the alert the stage is checked (default: four windows).
    verify_after: Duration | None = None


class VolumeSpikeParams(_Params):
    window: Duration = "1h"
    baseline: Duration = "24h"
    factor: float = Field(default=3.0, gt=0)
    min_volume: int = Field(default=20, ge=0)
    min_baseline: int = Field(default=1, ge=0)
    verify_after: Duration | None = None


class EmergingThemeParams(_Params):
    """A theme is emerging when it reaches `min_volume` in `window` and is new (nothing in the window before) or
    has grown at least `growth` times over it."""

    window: Duration = "24h"
    min_volume: int = Field(default=10, ge=1)
    growth: float = Field(default=3.0, gt=1)


MOMENT_RULES: dict[str, type[_Params]] = {
    "repeat_contact": RepeatContactParams,
    "nth_event": NthEventParams,
    "first_event": FirstEventParams,
}
ALERT_PARAMS: dict[str, type[_Params]] = {
    "negative_share": NegativeShareParams,
    "volume_spike": VolumeSpikeParams,
    "critical_item": _Params,
    "moment_of_truth": _Params,
    "emerging_theme": EmergingThemeParams,
}


def _check_params(what: str, model: type[_Params], params: Any) -> None:
    """Refuse malformed rule parameters when the map loads, naming the rule and the field."""
    try:
        model.model_validate(params or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "params"
        raise ValueError(f"{what}: {field}: {first['msg']}") from None


class MomentOfTruth(BaseModel):
    id: str
    stage: str
    name: str = ""
    rule: dict[str, Any]
    alert: bool = True

    @model_validator(mode="after")
    def _typed_rule(self) -> MomentOfTruth:
        if len(self.rule) != 1 or next(iter(self.rule)) not in MOMENT_RULES:
            raise ValueError(f"moment {self.id!r}: rule must be one of {', '.join(MOMENT_RULES)}")
        kind, params = next(iter(self.rule.items()))
        _check_params(f"moment {self.id!r} rule {kind}", MOMENT_RULES[kind], params)
        return self


class AlertRule(BaseModel):
    id: str
    kind: Literal["negative_share", "volume_spike", "critical_item", "moment_of_truth", "emerging_theme"]
    stage: str | None = Field(default=None, description="None: applies to every stage")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _typed_params(self) -> AlertRule:
        _check_params(f"alert rule {self.id!r} params", ALERT_PARAMS[self.kind], self.params)
        return self


class Triage(BaseModel):
    team: str = "cx-triage"
    confidence_threshold: float = 0.45


class JourneyMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: str = "default"
    stages: list[Stage]
    teams: list[Team]
    ownership: list[Ownership]
    triage: Triage = Field(default_factory=Triage)
    metadata_rules: list[MetadataRule] = Field(default_factory=list)
    moments_of_truth: list[MomentOfTruth] = Field(default_factory=list)
    alert_rules: list[AlertRule] = Field(default_factory=list)
    # What a person may give as the reason an alert is resolved (`POST /v1/alerts/{id}/resolve` `code`).
    resolution_codes: list[str] = Field(
        default_factory=lambda: ["fixed", "process_change", "known_issue", "not_actionable"], min_length=1
    )
    # Noise control: symptom alerts muted while their cause is open; alerts opening close together grouped.
    inhibit: list[InhibitRule] = Field(default_factory=list)
    incidents: Incidents | None = None

    @model_validator(mode="after")
    def _consistent(self) -> JourneyMap:
        stage_ids = [s.id for s in self.stages]
        if len(set(stage_ids)) != len(stage_ids):
            raise ValueError("stage ids must be unique")
        if UNASSIGNED in stage_ids:
            raise ValueError(f"'{UNASSIGNED}' is reserved for the triage stage")
        team_ids = {t.id for t in self.teams}
        known_stages = {*stage_ids, UNASSIGNED}
        for own in self.ownership:
            if own.stage not in known_stages:
                raise ValueError(f"ownership names unknown stage {own.stage!r}")
            for team in [own.accountable, *own.contributing]:
                if team not in team_ids:
                    raise ValueError(f"ownership of {own.stage!r} names unknown team {team!r}")
        if self.triage.team not in team_ids:
            raise ValueError(f"triage team {self.triage.team!r} is not defined")
        staged: list[MetadataRule | MomentOfTruth] = [*self.metadata_rules, *self.moments_of_truth]
        for item in staged:
            if item.stage not in known_stages:
                raise ValueError(f"{item.id!r} names unknown stage {item.stage!r}")
        for rule in self.alert_rules:
            if rule.stage is not None and rule.stage not in known_stages:
                raise ValueError(f"alert rule {rule.id!r} names unknown stage {rule.stage!r}")
        for defined in self.teams:
            for index, step in enumerate(defined.chain):
                if step.notify.team is not None and step.notify.team not in team_ids:
                    raise ValueError(
                        f"team {defined.id!r} chain step {index + 1} names unknown team {step.notify.team!r}"
                    )
        rule_ids = {r.id for r in self.alert_rules}
        for index, inhibit in enumerate(self.inhibit):
            for side, match in (("cause", inhibit.cause), ("mute", inhibit.mute)):
                if match.stage is not None and match.stage not in known_stages:
                    raise ValueError(f"inhibit rule {index + 1} {side} names unknown stage {match.stage!r}")
                if match.rule is not None and match.rule not in rule_ids:
                    raise ValueError(f"inhibit rule {index + 1} {side} names unknown alert rule {match.rule!r}")
        return self

    @cached_property
    def ordered_stages(self) -> list[Stage]:
        return sorted(self.stages, key=lambda s: s.order)

    @cached_property
    def stage_ids(self) -> list[str]:
        """Stage ids in journey order, then the triage stage."""
        return [s.id for s in self.ordered_stages] + [UNASSIGNED]

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def owners(self, stage_id: str) -> Ownership:
        """The stage's owners; the triage team owns `unassigned` unless the map says otherwise."""
        found = next((o for o in self.ownership if o.stage == stage_id), None)
        if found is not None:
            return found
        if stage_id == UNASSIGNED:
            return Ownership(stage=UNASSIGNED, accountable=self.triage.team)
        raise KeyError(stage_id)


def load_journey_map(path: str | Path) -> JourneyMap:
    """Read and validate a journey map YAML file."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a journey map is a YAML mapping")
    return JourneyMap.model_validate(raw)
