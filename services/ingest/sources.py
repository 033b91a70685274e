"""Sources and their API keys: add, list, rotate, revoke. Keys are shown once and stored only as SHA-256."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from services.ingest.adapters.mapping import check_mapping
from services.ingest.models import SOURCE_NAME_PATTERN, Adapter, HookSecrets, Source, SourceCreate
from shared.models import Channel, utcnow

KEY_PREFIX = "jl_"


class SourceError(ValueError):
    """A source request that cannot be honoured (duplicate name, unknown source, bad name)."""


def create_tables(engine: Engine) -> None:
    """Create ingest's own tables (`ingest_*`) if they do not exist, and add the columns newer versions added."""
    SQLModel.metadata.create_all(engine, tables=[Source.__table__])  # type: ignore[attr-defined]
    present = {c["name"] for c in inspect(engine).get_columns("ingest_sources")}
    added = {  # columns later versions added, with what an earlier row means
        "redact": "BOOLEAN NOT NULL DEFAULT TRUE",
        "hook_vendor": "VARCHAR(20)",
        "hook_secrets": "JSON NOT NULL DEFAULT '[]'",
        "hook_verify_token": "VARCHAR(200)",
        "mapping": "JSON",
    }
    missing = [(name, kind) for name, kind in added.items() if name not in present]
    if missing:
        with engine.begin() as conn:
            for name, kind in missing:
                conn.execute(text(f"ALTER TABLE ingest_sources ADD COLUMN {name} {kind}"))


def new_key() -> str:
    """A high-entropy API key (256 random bits), so one SHA-256 round is a safe way to store it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _hint(key: str) -> str:
    return key[:10]


def add_source(*, session: Session, source: SourceCreate) -> tuple[Source, str]:
    """Create a source; return it with its clear key (shown once, never stored)."""
    if not re.match(SOURCE_NAME_PATTERN, source.name):
        raise SourceError("source names are 1-63 characters: lower-case letters, digits, '_', '.', '-'")
    if session.exec(select(Source).where(Source.name == source.name)).first() is not None:
        raise SourceError(f"a source named {source.name!r} already exists")
    check_source_mapping(source)
    key = new_key()
    row = Source(
        name=source.name,
        channel=Channel(source.channel),
        adapter=Adapter(source.adapter),
        rate_limit=source.rate_limit,
        redact=source.redact,
        hook_vendor=source.hook_vendor,
        hook_secrets=list(source.hook_secrets),
        hook_verify_token=source.hook_verify_token,
        mapping=source.mapping,
        key_hash=hash_key(key),
        key_hint=_hint(key),
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, key


def set_hook_secrets(*, session: Session, name: str, hook: HookSecrets) -> Source:
    """Set the vendor and the webhook signing secrets of a source (replacing the old ones)."""
    row = get_source(session=session, name=name)
    row.hook_vendor, row.hook_secrets, row.hook_verify_token = hook.vendor, list(hook.secrets), hook.verify_token
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


class InvalidMapping(ValueError):
    """A source's field mapping that the mapping adapter could not use."""


def check_source_mapping(source: SourceCreate) -> None:
    """A mapping must be usable, and the mapping adapter needs one."""
    if source.mapping is not None:
        try:
            check_mapping(source.mapping)
        except ValueError as exc:
            raise InvalidMapping(f"mapping: {exc}") from None
    elif source.adapter == Adapter.mapping:
        raise InvalidMapping("mapping: the mapping adapter needs a mapping (canonical field -> path)")


def get_source(*, session: Session, name: str) -> Source:
    row = session.exec(select(Source).where(Source.name == name)).first()
    if row is None:
        raise SourceError(f"no source named {name!r}")
    return row


def list_sources(*, session: Session) -> list[Source]:
    return list(session.exec(select(Source).order_by(Source.name)))  # type: ignore[arg-type]


def rotate_key(*, session: Session, name: str) -> tuple[Source, str]:
    """Give a source a new key (the old one stops working); a revoked source is re-activated."""
    row = get_source(session=session, name=name)
    key = new_key()
    row.key_hash, row.key_hint = hash_key(key), _hint(key)
    row.rotated_at, row.revoked_at = utcnow(), None
    session.add(row)
    session.commit()
    session.refresh(row)
    return row, key


def revoke_source(*, session: Session, name: str) -> Source:
    """Stop accepting the source's key; its history stays."""
    row = get_source(session=session, name=name)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        session.commit()
        session.refresh(row)
    return row


def active_sources(*, session: Session) -> list[Source]:
    return list(session.exec(select(Source).where(Source.revoked_at == None)))  # noqa: E711


def ensure_source_key(*, session: Session, name: str, channel: Channel, adapter: Adapter) -> str:
    """Create `name` or rotate its key; return the clear key (the dev runner's demo source)."""
    if session.exec(select(Source).where(Source.name == name)).first() is None:
        _, key = add_source(session=session, source=SourceCreate(name=name, channel=channel, adapter=adapter))
        return key
    _, key = rotate_key(session=session, name=name)
    return key
