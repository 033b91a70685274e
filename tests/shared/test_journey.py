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


@pytest.mark.parametrize(
    ("path", "bad", "names"),
    [
        (("moments_of_truth", 0, "rule"), {"repeat_contact": {"count": 3, "within": "30 days"}}, "within"),
        (("moments_of_truth", 0, "rule"), {"repeat_contact": {"count": 0, "within": "30d"}}, "count"),
        (("moments_of_truth", 0, "rule"), {"repeat_contact": {"cuont": 3}}, "cuont"),
        (("moments_of_truth", 0, "rule"), {"third_contact": {}}, "rule must be one of"),
        (("alert_rules", 0, "params"), {"window": "an hour", "min_volume": 20}, "window"),
        (("alert_rules", 1, "params"), {"factor": "lots"}, "factor"),
        (("alert_rules", 0, "params"), {"min_volume": 20, "treshold": 0.5}, "treshold"),
    ],
)
def test_malformed_rule_parameters_are_refused_when_the_map_loads_naming_the_field(
    tmp_path: Path, path: tuple[str | int, ...], bad: object, names: str
) -> None:
    raw = yaml.safe_load(DEFAULT_JOURNEY_MAP.read_text())
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    broken = tmp_path / "map.yaml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=names):
        load_journey_map(broken)
