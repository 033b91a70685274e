"""Feedback search: the filters, full text and keyset pages behind the evidence lists (search, triage, alert evidence).

One query shape serves every list. Pages are keyset pages: the cursor holds the sort key and id of the last row
shown, so the next page starts right after it however many rows came before (no OFFSET, no rows skipped or shown
twice when new items arrive). Full text is PostgreSQL's `search_doc` tsvector or SQLite's FTS5 table (migration
0004); on both, every word of `q` must occur in the item's text, whole words, case and accents ignored.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import and_, or_, select, text, tuple_
from sqlalchemy.sql.elements import ColumnElement, TextClause
from sqlmodel import Session

from services.accountability.models import FeedbackItem, columns

Order = Literal["newest", "oldest", "least_confident"]
# At most this many words of `q` are searched for: a crafted query of thousands of words cannot make a slow plan.
MAX_QUERY_WORDS = 8
_WORD = re.compile(r"\w+", re.UNICODE)
_F = columns(FeedbackItem)
Clause = ColumnElement[bool] | TextClause


def _fold_pairs() -> tuple[str, str]:
    """Lower-case Latin letters with accents (U+00C0-U+024F) and the plain letter each stands for: 'é' -> 'e'."""
    pairs = []
    for code in range(0xC0, 0x250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[0]
        if char == char.lower() and base.isascii() and base.isalpha() and base != char:
            pairs.append((char, base))
    extra = [("ł", "l"), ("ø", "o"), ("đ", "d")]  # no decomposition, yet read as the plain letter
    pairs += [p for p in extra if p[0] not in dict(pairs)]
    return "".join(a for a, _ in pairs), "".join(b for _, b in pairs)


# PostgreSQL's `translate(lower(text), FOLD_FROM, FOLD_TO)` in the generated search column, and `fold` on the
# words of a query: the same folding on both sides, so "rembourse" finds "Remboursé" (SQLite's FTS5 tokenizer
# removes diacritics itself).
FOLD_FROM, FOLD_TO = _fold_pairs()
_FOLD = str.maketrans(FOLD_FROM, FOLD_TO)


def fold(value: str) -> str:
    return value.lower().translate(_FOLD)


class SearchError(ValueError):
    """A query that cannot be run as given (a bad cursor, a `q` without words): the API answers 422."""


class FeedbackQuery(BaseModel):
    """The filters of a feedback list; every one optional, all of them ANDed."""

    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(default=None, max_length=64)
    method: str | None = Field(default=None, max_length=20, description="How it was classified: rules, tfidf, ...")
    channel: str | None = Field(default=None, max_length=20)
    source: str | None = Field(default=None, max_length=100)
    kind: str | None = Field(default=None, max_length=30)
    severity: str | None = Field(default=None, max_length=20)
    sentiment: str | None = Field(default=None, max_length=20, description="Sentiment label: negative, neutral, ...")
    customer: str | None = Field(default=None, max_length=200)
    since: AwareDatetime | None = Field(default=None, description="Occurred after this time (exclusive)")
    until: AwareDatetime | None = Field(default=None, description="Occurred at or before this time")
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    max_confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    q: str | None = Field(default=None, max_length=200, description="Words that must all occur in the text")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> FeedbackQuery:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        if self.min_confidence is not None and self.max_confidence is not None:
            if self.min_confidence > self.max_confidence:
                raise ValueError("min_confidence must not exceed max_confidence")
        return self


def words(q: str) -> list[str]:
    """The words of a search, lower-cased, at most `MAX_QUERY_WORDS` of them (the first ones)."""
    return [w.lower() for w in _WORD.findall(q)][:MAX_QUERY_WORDS]


def _full_text(session: Session, q: str) -> Clause:
    found = words(q)
    if not found:
        raise SearchError("q has no words to search for (letters or digits)")
    if session.get_bind().dialect.name == "postgresql":
        return text("acct_feedback.search_doc @@ plainto_tsquery('simple'::regconfig, :q_words)").bindparams(
            q_words=fold(" ".join(found))
        )
    # FTS5: each word as a quoted string, so no operator or syntax of FTS5's query language can be injected.
    match = " ".join('"' + w.replace('"', '""') + '"' for w in found)
    return text(
        "acct_feedback.rowid IN (SELECT rowid FROM acct_feedback_fts WHERE acct_feedback_fts MATCH :q_match)"
    ).bindparams(q_match=match)


def conditions(session: Session, query: FeedbackQuery) -> list[Clause]:
    """The WHERE clauses of a query's filters."""
    found: list[Clause] = []
    equal = {
        "stage": query.stage,
        "method": query.method,
        "channel": query.channel,
        "source": query.source,
        "kind": query.kind,
        "severity": query.severity,
        "sentiment_label": query.sentiment,
        "customer_id": query.customer,
    }
    found += [_F[name] == value for name, value in equal.items() if value is not None]
    if query.since is not None:
        found.append(_F.occurred_at > query.since)
    if query.until is not None:
        found.append(_F.occurred_at <= query.until)
    if query.min_confidence is not None:
        found.append(_F.confidence >= query.min_confidence)
    if query.max_confidence is not None:
        found.append(_F.confidence <= query.max_confidence)
    if query.q:
        found.append(_full_text(session, query.q))
    return found


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> tuple[Any, str]:
    """The (sort value, id) a cursor holds, checked: a cursor from another order or a forged one is refused."""
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        tag, value, last_id = raw
        if tag != order or not isinstance(last_id, str) or len(last_id) > 64:
            raise ValueError
        if order == "least_confident":
            return float(value), last_id
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise ValueError
        return when, last_id
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise SearchError("cursor: not a cursor this list gave out; start again without it") from exc


def _ordering(order: Order) -> tuple[Any, Any]:
    if order == "least_confident":
        return _F.confidence.asc(), _F.id.asc()
    if order == "oldest":
        return _F.occurred_at.asc(), _F.id.asc()
    return _F.occurred_at.desc(), _F.id.desc()


def _after(order: Order, cursor: str) -> ColumnElement[bool]:
    value, last_id = decode_cursor(cursor, order)
    if order == "least_confident":
        return tuple_(_F.confidence, _F.id) > tuple_(value, last_id)
    if order == "oldest":
        return tuple_(_F.occurred_at, _F.id) > tuple_(value, last_id)
    return tuple_(_F.occurred_at, _F.id) < tuple_(value, last_id)


def _key(order: Order, row: FeedbackItem) -> str:
    value: Any = row.confidence if order == "least_confident" else row.occurred_at.isoformat()
    return encode_cursor([order, value, row.id])


def page(
    *,
    session: Session,
    query: FeedbackQuery,
    limit: int,
    cursor: str | None = None,
    order: Order = "newest",
    extra: list[Clause] | None = None,
) -> tuple[list[FeedbackItem], str | None]:
    """One page of the items matching `query` (and any `extra` clauses), and the cursor of the next page."""
    where = conditions(session, query) + list(extra or [])
    if cursor:
        where.append(_after(order, cursor))
    statement = select(FeedbackItem).where(*where).order_by(*_ordering(order)).limit(limit + 1)
    rows = list(session.execute(statement).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_key(order, rows[-1]) if more and rows else None)


def triage_clause(threshold: float, unassigned: str = "unassigned") -> ColumnElement[bool]:
    """The triage queue: not yet relabelled by a person, and either `unassigned` or below the threshold."""
    return and_(_F.corrected_by.is_(None), or_(_F.stage == unassigned, _F.confidence < threshold))
