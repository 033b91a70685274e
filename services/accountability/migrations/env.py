"""Alembic environment for the accountability tables (`acct_*`), run programmatically at start-up."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

from services.accountability import models

config = context.config
target_metadata = SQLModel.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Only our tables: ingest (and others) share the database with their own."""
    if type_ == "table":
        return bool(name and name.startswith("acct_"))
    return True


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from shared.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        version_table=models.VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; point DATABASE_URL at the database")
run_migrations_online()
