"""What ranking a window reads about its customers: who is in each theme (and its newest items), who was first
seen in the window, and who reached `leave` (theme_hours counts the figures; themes ranks them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from services.accountability.models import FeedbackItem, ThemeItem, columns
from services.accountability.theme_hours import LEAVE, aware

EXAMPLES = 3  # newest item ids kept per theme
_ITEMS = ThemeItem.__table__  # type: ignore[attr-defined]


def read_left_at(session: Session) -> dict[str, datetime]:
    """Each customer's last item in `leave`."""
    f = columns(FeedbackItem)
    query = (
        select(f.customer_id, func.max(f.occurred_at))
        .where(f.stage == LEAVE, f.customer_id.is_not(None))
        .group_by(f.customer_id)
    )
    return {c: aware(t) for c, t in session.execute(query)}


def read_first_seen(session: Session, start: datetime, now: datetime) -> dict[str, dict[str, datetime]]:
    """Per stage (not `leave`): each customer's first item in the window."""
    f = columns(FeedbackItem)
    query = (
        select(f.stage, f.customer_id, func.min(f.occurred_at))
        .where(f.occurred_at > start, f.occurred_at <= now, f.customer_id.is_not(None), f.stage != LEAVE)
        .group_by(f.stage, f.customer_id)
    )
    out: dict[str, dict[str, datetime]] = defaultdict(dict)
    for stage, customer, first in session.execute(query):
        out[stage][customer] = aware(first)
    return out


def theme_members(
    session: Session, stage: str, keys: Sequence[str], start: datetime, now: datetime
) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """For the listed themes of a stage in the window: their customers, and their latest few item ids."""
    if not keys:
        return {}, {}
    t, f = _ITEMS.c, columns(FeedbackItem)
    query = (
        select(t.theme, t.item_id, t.occurred_at, f.customer_id)
        .join_from(_ITEMS, FeedbackItem.__table__, f.id == t.item_id)  # type: ignore[attr-defined]
        .where(t.stage == stage, t.theme.in_(list(keys)), t.occurred_at > start, t.occurred_at <= now)
    )
    customers: dict[str, set[str]] = defaultdict(set)
    latest: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for theme, item_id, occurred_at, customer in session.execute(query):
        if customer is not None:
            customers[theme].add(customer)
        latest[theme].append((aware(occurred_at), item_id))
    examples = {
        theme: [i for _, i in sorted(found, key=lambda x: (-x[0].timestamp(), x[1]))[:EXAMPLES]]
        for theme, found in latest.items()
    }
    return customers, examples
