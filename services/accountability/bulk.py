"""Batched insert / upsert that is fast on both databases.

SQLite: one dialect `INSERT ... ON CONFLICT` executed for many rows. PostgreSQL: the rows travel as one JSON
parameter expanded server-side by `json_to_recordset` - a multi-row VALUES statement with thousands of
placeholders costs psycopg more to prepare than the database needs to run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

_PG = postgresql.dialect()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def bulk_insert(
    *,
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str],
    update: Sequence[str] = (),
    increment: Sequence[str] = (),
    returning: str | None = None,
) -> list[Any]:
    """Insert `rows`; on a conflict on `conflict` skip the row, or overwrite the `update` columns and add the
    row's `increment` columns to the stored ones.

    Returns the `returning` column of the rows actually inserted or updated (empty list without it).
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _postgres(session, table, rows, conflict, update, increment, returning)
    stmt = sqlite.insert(table)
    if update or increment:
        changes = {c: stmt.excluded[c] for c in update} | {c: table.c[c] + stmt.excluded[c] for c in increment}
        stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=changes)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    if returning is None:
        session.execute(stmt, list(rows))
        return []
    return list(session.execute(stmt.returning(table.c[returning]), list(rows)).scalars().all())


def _postgres(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str],
    update: Sequence[str],
    increment: Sequence[str],
    returning: str | None,
) -> list[Any]:
    names = list(rows[0])
    cols = ", ".join(_q(n) for n in names)
    record = ", ".join(f"{_q(n)} {table.c[n].type.compile(dialect=_PG)}" for n in names)
    if update or increment:
        changes = [f"{_q(c)} = EXCLUDED.{_q(c)}" for c in update]
        changes += [f"{_q(c)} = {_q(table.name)}.{_q(c)} + EXCLUDED.{_q(c)}" for c in increment]
        action = "DO UPDATE SET " + ", ".join(changes)
    else:
        action = "DO NOTHING"
    sql = (
        f"INSERT INTO {_q(table.name)} ({cols}) SELECT {cols} FROM json_to_recordset(CAST(:rows AS json)) AS x({record}) "  # noqa: S608 - names from the table metadata; values are bound
        f"ON CONFLICT ({', '.join(_q(c) for c in conflict)}) {action}"
    )
    if returning is not None:
        sql += f" RETURNING {_q(returning)}"
    result = session.execute(text(sql), {"rows": orjson.dumps(list(rows)).decode()})
    return list(result.scalars().all()) if returning is not None else []
