"""Ingest's tables (prefixed `ingest_`, created at start-up) and the shapes of its API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Strict
from pydantic import Field as PydanticField
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from shared.models import Channel, utcnow

SOURCE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Adapter(StrEnum):
    """Payload shapes ingest understands; each source has a default, a request may pick another."""

    generic = "generic"
    call_centre = "call_centre"
    social = "social"
    review = "review"
    survey = "survey"
    mapping = "mapping"  # the source's own field paths (`mapping` in its settings)


class HookVendor(StrEnum):
    zendesk = "zendesk"
    meta = "meta"
    typeform = "typeform"
    intercom = "intercom"
    twilio = "twilio"
    delighted = "delighted"
    x = "x"


class SourceBase(SQLModel):
    name: str = Field(index=True, unique=True, max_length=63, schema_extra={"pattern": SOURCE_NAME_PATTERN})
    channel: Channel = Field(default=Channel.other, max_length=20)
    adapter: Adapter = Field(default=Adapter.generic, max_length=30)
    rate_limit: float | None = Field(
        default=None, ge=0, description="Events per second for this source; null = the service default, 0 = none"
    )
    redact: bool = Field(
        default=True,
        description="Replace e-mail addresses, phone, card numbers and IBANs in the text before it reaches Kafka",
    )
    hook_vendor: HookVendor | None = Field(
        default=None,
        max_length=20,
        description="The tool whose own webhook signature authenticates POST /v1/hooks/{name} (instead of a key)",
    )


class Source(SourceBase, table=True):
    """An integrating tool allowed to post events; only a SHA-256 of its API key is kept."""

    __tablename__ = "ingest_sources"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(index=True, unique=True, max_length=64)
    key_hint: str = Field(max_length=16, description="The key's first characters, to tell keys apart")
    created_at: datetime = Field(default_factory=utcnow)
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None
    # The vendor's signing secrets (two while one is being rotated) and Meta's verify token: kept as they are,
    # since a signature can only be checked with the secret itself; never shown by the API.
    hook_secrets: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # For the `mapping` adapter: canonical field -> dotted path into the payload (services/ingest/adapters/mapping.py)
    mapping: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    hook_verify_token: str | None = Field(default=None, max_length=200)


class HookSecrets(BaseModel):
    """A source's webhook signing secrets: during a rotation give the old and the new one, later the new alone."""

    model_config = ConfigDict(extra="forbid")

    vendor: HookVendor
    secrets: list[Annotated[str, PydanticField(min_length=8, max_length=500)]] = PydanticField(
        min_length=1, max_length=2
    )
    verify_token: str | None = PydanticField(default=None, max_length=200, description="Meta's hub.verify_token")


# What services/ingest/adapters/mapping.py's `check_mapping` accepts, as JSON Schema: known targets (or
# `metadata.<key>`), non-empty paths of at most 200 characters, at most 40 fields, and a text or a score among them.
_MAPPING_TARGET = r"^(items|external_id|text|occurred_at|customer_id|segment|channel|kind|stage_hint|scores\.(csat|nps|ces)|metadata\..*)$"
MAPPING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "For the mapping adapter: canonical field -> dotted path into the payload (or `=constant`)",
    "propertyNames": {"pattern": _MAPPING_TARGET},
    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 200},
    "maxProperties": 40,
    "anyOf": [{"required": [target]} for target in ("text", "scores.csat", "scores.nps", "scores.ces")],
}


def _source_create_schema(schema: dict[str, Any]) -> None:
    schema["properties"]["mapping"] = {"anyOf": [MAPPING_SCHEMA, {"type": "null"}], "default": None}
    # The mapping adapter needs a mapping.
    schema["if"] = {"properties": {"adapter": {"const": Adapter.mapping.value}}, "required": ["adapter"]}
    schema["then"] = {"properties": {"mapping": MAPPING_SCHEMA}, "required": ["mapping"]}


class SourceCreate(SourceBase):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_source_create_schema)  # type: ignore[assignment]

    # JSON's own types, as the document says: no `0` for false, no "2.5" for 2.5.
    rate_limit: Annotated[float, Strict()] | None = Field(
        default=None, ge=0, description="Events per second for this source; null = the service default, 0 = none"
    )
    redact: Annotated[bool, Strict()] = Field(
        default=True,
        description="Replace e-mail addresses, phone, card numbers and IBANs in the text before it reaches Kafka",
    )
    hook_secrets: list[str] = Field(default_factory=list, max_length=2)
    hook_verify_token: str | None = Field(default=None, max_length=200)
    mapping: dict[str, str] | None = Field(default=None, description="For the mapping adapter: field -> path")


class SourcePublic(SourceBase):
    key_hint: str
    created_at: datetime
    rotated_at: datetime | None
    revoked_at: datetime | None
    active: bool


class SourceWithKey(SourcePublic):
    api_key: str


class ItemResult(BaseModel):
    index: int
    part: int | None = None
    status: str
    id: str | None = None
    reason: str | None = None
    detail: str | None = None


class Accepted(BaseModel):
    status: str = "accepted"
    id: str


class BatchResult(BaseModel):
    status: str
    accepted: int
    rejected: int
    results: list[ItemResult]


def source_public(source: Source) -> SourcePublic:
    data: dict[str, Any] = source.model_dump()
    return SourcePublic(**data, active=source.revoked_at is None)
