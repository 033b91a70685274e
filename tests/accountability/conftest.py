"""The accountability tests' common fixtures: the default journey map, and a migrated, seeded database on SQLite
and on PostgreSQL (`database_url` is parametrised over both). A module may override `journey`; `engine` uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from shared.journey import JourneyMap, load_journey_map
from shared.settings import DEFAULT_JOURNEY_MAP
from tests.accountability.factories import migrated


@pytest.fixture
def journey() -> JourneyMap:
    return load_journey_map(DEFAULT_JOURNEY_MAP)


@pytest.fixture
def engine(database_url: str, journey: JourneyMap) -> Iterator[Engine]:
    with migrated(database_url, journey) as engine:
        yield engine
