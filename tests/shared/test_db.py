"""The database engine helpers: SQLite's settings per connection, and the JSON columns' serializer."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from shared.db import checkpoint, json_text, make_engine
from tests.support import rows_in_the_database_file, sqlite_pragma


def test_sqlite_connections_checkpoint_rarely_and_only_the_store_gets_a_large_cache(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    plain, store = make_engine(url), make_engine(url, cache_kib=32 * 1024)
    try:
        assert sqlite_pragma(plain, "wal_autocheckpoint") == 20_000 == sqlite_pragma(store, "wal_autocheckpoint")
        assert sqlite_pragma(store, "cache_size") == -32 * 1024  # negative: KiB, not pages
        assert sqlite_pragma(plain, "cache_size") == -2000  # SQLite's default, 2 MiB: each connection's cache fills up
    finally:
        plain.dispose()
        store.dispose()


def test_a_store_connection_never_checkpoints_and_the_checkpoint_job_copies_its_pages_back(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    url = f"sqlite:///{path}"
    plain, store = make_engine(url), make_engine(url, cache_kib=1024, checkpoints=False)
    try:
        assert sqlite_pragma(store, "wal_autocheckpoint") == 0 and sqlite_pragma(plain, "wal_autocheckpoint") == 20_000
        with store.begin() as conn:
            conn.execute(text("CREATE TABLE t (n INTEGER)"))
        assert checkpoint(plain) is not None  # the table itself is in the file from now on
        with store.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
        assert rows_in_the_database_file(path, "t") == 0  # committed, still in the WAL only
        busy, pages, copied = checkpoint(plain) or (1, 0, 0)
        assert busy == 0 and pages == copied > 0
        assert rows_in_the_database_file(path, "t") == 3
    finally:
        plain.dispose()
        store.dispose()


def test_checkpoint_is_sqlites_only(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        assert checkpoint(engine) is None
    finally:
        engine.dispose()


def test_json_columns_are_written_by_orjson_and_read_back_by_the_standard_library() -> None:
    value = {"text": "remboursé ☂", "n": 3, "nested": [1.5, None, True], "metadata": {"a": "b"}}
    assert json.loads(json_text(value)) == value
    assert json_text(value) == '{"text":"remboursé ☂","n":3,"nested":[1.5,null,true],"metadata":{"a":"b"}}'
    assert json.loads(json_text({1: "x"})) == {"1": "x"}  # as json.dumps does with a non-string key
    assert json_text(2**70) == str(2**70)  # beyond orjson's 64 bits: the standard library writes it
    assert json_text(float("nan")) == "null"  # valid JSON, as PostgreSQL's json columns need
