"""Database engine helpers for SQLModel: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import create_engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get WAL and a busy timeout so several processes can share them."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        # sqlite3 keeps 128 prepared statements per connection by default; bulk inserts of varying batch sizes
        # are each a different statement, so that cache held ~50 MiB after 30,000 items (16 keeps it ~9 MiB).
        connect_args = {"check_same_thread": False, "timeout": 30, "cached_statements": 16}
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "do_connect")
        def _folder(*_: Any) -> None:
            # The file's folder is made on the first connection, not when the engine is made: importing a
            # service (which builds its app, and so its engine) touches no disk.
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **kwargs)


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure to connect means "not reachable"
        return False
