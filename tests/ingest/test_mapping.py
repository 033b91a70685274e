"""The declarative mapping adapter: another JSON tool described by field paths in its source's settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from services.ingest.adapters.mapping import check_mapping
from services.ingest.auth import SourceInfo
from services.ingest.intake import IntakeError
from services.ingest.models import Adapter, SourceCreate
from services.ingest.sources import InvalidMapping, add_source, create_tables
from shared.db import make_engine
from shared.models import Channel
from tests.ingest.factories import data, run

MAPPING = {
    "items": "results",
    "external_id": "id",
    "text": "comment.body",
    "occurred_at": "created",
    "customer_id": "user.id",
    "channel": "=survey",
    "kind": "=survey_response",
    "scores.nps": "score",
    "metadata.product": "product.name",
}
PAGE = {
    "results": [
        {"id": "r-1", "comment": {"body": "Checkout kept failing"}, "created": "2025-03-05T10:00:00Z",
         "user": {"id": "U7"}, "score": 3, "product": {"name": "web shop"}},
        {"id": "r-2", "comment": {"body": "Smooth delivery"}, "created": 1741169000, "user": {"id": "U8"}, "score": "10"},
    ],
    "next": None,
}  # fmt: skip


def _source() -> SourceInfo:
    return SourceInfo(
        name="pollster", channel=Channel.other, adapter=Adapter.mapping, rate_limit=None, mapping=tuple(MAPPING.items())
    )


def test_a_mapping_turns_a_page_of_another_tools_items_into_events() -> None:
    records, rejections = run(PAGE, Adapter.mapping, src=_source())
    assert not rejections and len(records) == 2
    first, second = (data(r) for r in records)
    assert first["external_id"] == "r-1" and first["text"] == "Checkout kept failing"
    assert first["customer"]["id"] == "U7" and first["scores"]["nps"] == 3 and first["channel"] == "survey"
    assert first["kind"] == "survey_response" and first["metadata"]["product"] == "web shop"
    assert second["scores"]["nps"] == 10 and second["occurred_at"].startswith("2025-03-05")


def test_items_the_mapping_cannot_use_are_rejected_with_a_reason() -> None:
    bad = {"results": [{"id": "r-3", "comment": {"body": "x"}, "score": 11, "user": {"id": "U9"}}]}
    with pytest.raises(IntakeError, match="no mapping"):  # a source without a mapping cannot use the adapter
        run(bad, Adapter.mapping)
    records, rejections = run(bad, Adapter.mapping, src=_source())
    assert not records and rejections[0].reason == "score_out_of_range"


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"txt": "body"}, "unknown target"),
        ({"text": ""}, "non-empty"),
        ({"external_id": "id"}, "needs a text or a score"),
        ({f"metadata.k{i}": "x" for i in range(41)} | {"text": "t"}, "at most 40"),
    ],
)
def test_a_mapping_is_checked_when_the_source_is_added(mapping: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        check_mapping(mapping)
    engine = make_engine(f"sqlite:///{tmp_path / 'ingest.db'}")
    create_tables(engine)
    with Session(engine) as session, pytest.raises(InvalidMapping):
        add_source(session=session, source=SourceCreate(name="bad", adapter=Adapter.mapping, mapping=mapping))
    engine.dispose()
