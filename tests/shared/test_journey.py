from pathlib import Path

import pytest
import yaml

from shared.journey import UNASSIGNED, load_journey_map
from shared.settings import DEFAULT_JOURNEY_MAP


def test_default_map_has_seven_stages_in_journey_order_with_owners() -> None:
    journey = load_journey_map(DEFAULT_JOURNEY_MAP)
    assert journey.stage_ids == ["discover", "buy", "onboard", "use", "pay", "get_help", "leave", UNASSIGNED]
    for stage in journey.ordered_stages:
        owners = journey.owners(stage.id)
        assert journey.team(owners.accountable) is not None
        assert owners.contributing, f"{stage.id} has no contributing team"
        assert stage.examples, f"{stage.id} has no example phrases"
    assert journey.owners(UNASSIGNED).accountable == journey.triage.team


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_JOURNEY_MAP.read_text())
    mutate(raw)
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m["ownership"].append({"stage": "nowhere", "accountable": "billing"}), "unknown stage"),
        (lambda m: m["ownership"][0].update(accountable="ghosts"), "unknown team"),
        (lambda m: m["stages"].append(dict(m["stages"][0])), "unique"),
        (lambda m: m["triage"].update(team="nobody"), "triage team"),
        (lambda m: m["moments_of_truth"][0].update(stage="mars"), "unknown stage"),
    ],
)
def test_inconsistent_maps_are_refused_with_the_reason(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_journey_map(_write(tmp_path, mutate))
