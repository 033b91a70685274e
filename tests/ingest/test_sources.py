"""Sources and keys on SQLite and PostgreSQL: keys shown once, stored only hashed; the CLI prints the key last."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlmodel import Session

from services.ingest.auth import SourceCache
from services.ingest.cli import demo_source_key
from services.ingest.models import Adapter, SourceCreate
from services.ingest.sources import (
    SourceError,
    add_source,
    create_tables,
    hash_key,
    list_sources,
    revoke_source,
    rotate_key,
)
from shared.db import make_engine
from shared.models import Channel
from shared.settings import CommonSettings
from tests.support import ROOT


async def test_add_rotate_revoke_and_the_key_cache(database_url: str) -> None:
    engine = make_engine(database_url)
    create_tables(engine)
    cache = SourceCache(engine, refresh_seconds=60)
    with Session(engine) as session:
        row, key = add_source(
            session=session, source=SourceCreate(name="zendesk-eu", channel=Channel.email, adapter=Adapter.generic)
        )
        assert key.startswith("jl_") and len(key) > 40 and row.key_hash == hash_key(key)
        with pytest.raises(SourceError):
            add_source(session=session, source=SourceCreate(name="zendesk-eu", channel=Channel.email))
    with engine.connect() as conn:
        dump = " ".join(str(v) for r in conn.execute(text("SELECT * FROM ingest_sources")) for v in r)
    assert key not in dump, "the clear key must never be stored"

    await cache.refresh()
    info = cache.lookup(key)
    assert info is not None and info.name == "zendesk-eu" and info.channel == Channel.email
    assert cache.lookup("jl_wrong") is None and cache.lookup(None) is None

    with Session(engine) as session:
        _, new_key = rotate_key(session=session, name="zendesk-eu")
    await cache.refresh()
    assert cache.lookup(key) is None and cache.lookup(new_key) is not None

    with Session(engine) as session:
        revoked = revoke_source(session=session, name="zendesk-eu")
        assert revoked.revoked_at is not None
        assert [s.name for s in list_sources(session=session)] == ["zendesk-eu"]
        with pytest.raises(SourceError):
            rotate_key(session=session, name="nobody")
    await cache.refresh()
    assert cache.lookup(new_key) is None
    engine.dispose()


def test_demo_source_key_creates_then_rotates(sqlite_url: str) -> None:
    settings = CommonSettings(DATABASE_URL=sqlite_url)
    first = demo_source_key(settings)
    second = demo_source_key(settings)
    assert first != second and first.startswith("jl_")


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", "sources", *args],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": database_url}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_cli_prints_the_new_key_alone_on_its_last_line(sqlite_url: str) -> None:
    added = _cli(sqlite_url, "add", "genesys-uk", "--channel", "call", "--adapter", "call_centre")
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("jl_") and " " not in key
    listed = _cli(sqlite_url, "list")
    assert "genesys-uk" in listed.stdout and "call_centre" in listed.stdout and key not in listed.stdout
    rotated = _cli(sqlite_url, "rotate", "genesys-uk")
    new_key = rotated.stdout.strip().splitlines()[-1]
    assert new_key.startswith("jl_") and new_key != key
    assert _cli(sqlite_url, "revoke", "genesys-uk").returncode == 0
    assert "revoked" in _cli(sqlite_url, "list").stdout
    assert _cli(sqlite_url, "add", "genesys-uk", "--channel", "call").returncode == 1
    assert _cli(sqlite_url, "revoke", "nobody").returncode == 1


async def test_a_key_created_after_start_works_on_its_first_request(sqlite_url: str) -> None:
    """The CLI writes a new key to the database; the running cache reloads on the miss instead of answering 401."""
    from services.ingest.sources import create_tables, ensure_source_key

    engine = make_engine(sqlite_url)
    create_tables(engine)
    cache = SourceCache(engine, refresh_seconds=3600)
    await cache.refresh()
    with Session(engine) as session:
        key = ensure_source_key(session=session, name="late", channel=Channel.call, adapter=Adapter.generic)
    assert cache.lookup(key) is None  # not yet seen by the periodic reload
    found = await cache.lookup_or_reload(key)
    assert found is not None and found.name == "late"
    assert await cache.lookup_or_reload("jl_not-a-real-key") is None


async def test_a_reload_that_read_the_table_before_an_admin_change_does_not_undo_it(sqlite_url: str) -> None:
    """The periodic reload reads the table in a thread; a change made through the admin API (committed, then
    `put`) while that read was under way must survive the reload's result, not vanish until the next one."""
    import threading

    from services.ingest.models import HookSecrets, HookVendor
    from services.ingest.sources import set_hook_secrets

    engine = make_engine(sqlite_url)
    create_tables(engine)
    with Session(engine) as session:
        add_source(session=session, source=SourceCreate(name="meta-page", channel=Channel.social))
    cache = SourceCache(engine, refresh_seconds=3600)
    await cache.refresh()
    read, release, load = threading.Event(), threading.Event(), cache._load
    reads = 0

    def slow_load() -> dict:
        nonlocal reads
        reads += 1
        table = load()
        if reads == 1:  # the first read is the stale one: hold it until the change is in
            read.set()
            release.wait(10)
        return table

    cache._load = slow_load  # type: ignore[method-assign]
    reload = asyncio.create_task(cache.refresh())
    await asyncio.to_thread(read.wait, 10)
    with Session(engine) as session:
        hook = HookSecrets(vendor=HookVendor.meta, secrets=["meta-app-secret-1"])
        cache.put(set_hook_secrets(session=session, name="meta-page", hook=hook))
    release.set()
    await reload
    found = cache.by_name("meta-page")
    assert found is not None and found.hook_vendor == "meta", "the reload put the table from before the change back"
    assert reads == 2
    engine.dispose()
