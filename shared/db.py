"""Database engine helpers for SQLModel: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import create_engine

# SQLite: a checkpoint every 20,000 WAL pages (80 MiB) instead of every 1,000, so that a page many commits change
# (an index's last leaf) is copied back into the database file once, not after each few commits; and, for the
# one connection that stores a service's stream, `cache_kib` of page cache instead of the default 2 MiB, which
# the feedback table's indexes outgrow, so that a batch re-read the pages it had just changed
# (docs/performance.md). Not for every connection: each one's cache fills up to its size. That connection does
# not checkpoint at all (`checkpoints=False`): its service runs `checkpoint` beside it.
STORE_CACHE_KIB = 32 * 1024
SQLITE_CHECKPOINT_PAGES = 20_000


def json_text(value: Any) -> str:
    """JSON columns' serializer: orjson (several times faster than `json.dumps` on an event's data), with the
    standard library for what orjson refuses (an integer beyond 64 bits); NaN becomes null, as on PostgreSQL."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str, *, cache_kib: int | None = None, checkpoints: bool = True, **kwargs: Any) -> Engine:
    """An engine for `url`; SQLite files get WAL and a busy timeout so several processes can share them,
    `cache_kib` of page cache per connection when given, and, with `checkpoints=False`, connections whose commits
    never checkpoint (someone must call `checkpoint`)."""
    kwargs.setdefault("json_serializer", json_text)
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
            if cache_kib:
                cur.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES if checkpoints else 0}")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **kwargs)


def checkpoint(engine: Engine) -> tuple[int, int, int] | None:
    """SQLite: copy the pages committed to the WAL back into the database file without stopping writers or readers
    (a PASSIVE checkpoint); returns (1 if it could not finish, pages in the WAL, pages copied). None on another
    database. A commit that checkpoints by itself (every SQLITE_CHECKPOINT_PAGES) does this work, tens of MiB of
    writes and an fsync, before it returns: the service that stores a stream leaves it to a job (`checkpoints`)."""
    if engine.dialect.name != "sqlite":
        return None
    with engine.connect() as conn:
        busy, pages, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(busy), int(pages), int(copied)


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure to connect means "not reachable"
        return False
