"""Column types and field shapes the accountability tables share: aware UTC times on both databases, roll-up
counters that later migrations add, JSON documents."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; naive UTC on SQLite (so string comparison orders), timestamptz on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, one step straight to the text SQLite's DATETIME stores ("YYYY-MM-DD HH:MM:SS.ffffff"),
        instead of `process_bind_param` and then DATETIME's own %-formatting: a stored item binds five times, and
        the two steps were a tenth of what storing it cost in Python."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            naive_utc = self.process_bind_param(value, dialect)
            return None if naive_utc is None else naive_utc.isoformat(" ", "microseconds")

        return to_text

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when_field(*, index: bool = False, nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), index=index, nullable=nullable))


def counter_field(default: float = 0) -> Any:
    """A roll-up figure added to by later migrations: existing rows start at 0."""
    return Field(default=default, sa_column_kwargs={"server_default": "0"})


def json_field(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))
