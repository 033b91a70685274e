"""Versioned artifacts, newest-or-pinned loading, corrections as training rows, the train/evaluate commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.classify.model_store import available_versions, load_or_train, save
from services.classify.models import Correction
from services.classify.training import CorrectionStore, fit, journey_rows, read_labelled_csv
from services.cli.main import main
from tests.classify.factories import journey


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("text,stage\n" + "".join(f'"{t}",{s}\n' for t, s in rows), encoding="utf-8")
    return path


def test_without_an_artifact_the_model_is_trained_from_the_journey_map(tmp_path: Path) -> None:
    model = load_or_train(journey=journey(), backend_name="tfidf", model_dir=tmp_path / "none")
    assert model.source == "journey-map" and model.version.startswith("map-tfidf-")
    assert sorted(model.backend.classes) == sorted(s.id for s in journey().stages)


def test_newest_artifact_is_loaded_unless_one_is_pinned(tmp_path: Path) -> None:
    rows = journey_rows(journey())
    old = save(fit("tfidf", rows, source="artifact", version="20260101T000000-tfidf"), tmp_path)
    new = save(fit("tfidf", rows, source="artifact", version="20260202T000000-tfidf"), tmp_path)
    assert available_versions(tmp_path, "tfidf") == [old.name, new.name]
    assert available_versions(tmp_path, "semantic") == []
    assert load_or_train(journey=journey(), backend_name="tfidf", model_dir=tmp_path).version == new.name
    pinned = load_or_train(journey=journey(), backend_name="tfidf", model_dir=tmp_path, pinned=old.name)
    assert pinned.version == old.name and pinned.source == "artifact"
    with pytest.raises(FileNotFoundError):
        load_or_train(journey=journey(), backend_name="tfidf", model_dir=tmp_path, pinned="nope")


def test_corrections_latest_wins_and_only_usable_rows_train(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    store.append(
        [
            Correction(id="c", stage="use", text="meter reading wrong", by="x", at=at),
            Correction(id="c", stage="pay", text="meter reading wrong", by="y", at=at),
            Correction(id="b", stage="pay", text=None, by="x", at=at),
            Correction(id="a", stage="leave", text="closing my account", by="x", at=at),  # held out (id hash)
        ]
    )
    rows, skipped = store.training_rows([s.id for s in journey().stages])
    assert [(r.text, r.stage) for r in rows] == [("meter reading wrong", "pay")]
    assert skipped == 1
    held = store.heldout_rows([s.id for s in journey().stages])
    assert [(r.text, r.stage) for r in held] == [("closing my account", "leave")]


def test_csv_with_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bad.csv", [("hello", "moon")])
    with pytest.raises(ValueError, match="unknown stage 'moon'"):
        read_labelled_csv(path, known_stages=["pay"])


def test_train_then_evaluate_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLASSIFY_MODEL_DIR", str(tmp_path / "models"))
    CorrectionStore(tmp_path / "models").append(
        [Correction(id="c", stage="pay", text="the tariff uplift letter", by="agent", at=datetime.now(UTC))]
    )
    data = _csv(tmp_path / "train.csv", [("the boarding pass will not scan", "onboard"), ("seat was broken", "use")])
    assert main(["classify", "train", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "corrections: 1 rows" in out and "version=" in out
    assert len(available_versions(tmp_path / "models", "tfidf")) == 1
    test = _csv(tmp_path / "test.csv", [("Still waiting for my refund", "pay"), ("On hold for an hour", "get_help")])
    assert main(["classify", "evaluate", "--data", str(test), "--train", str(data)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("macro_f1=") and any(line.startswith("pay ") for line in lines)


def test_fine_tuning_is_refused_for_tfidf_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLASSIFY_MODEL_DIR", str(tmp_path / "models"))
    assert main(["classify", "train", "--backend", "tfidf", "--fine-tune", "5", "--no-corrections"]) == 2
    assert "fine-tuning applies to the encoder of the 'semantic' and 'ensemble' back-ends" in capsys.readouterr().err
    assert available_versions(tmp_path / "models", "tfidf") == []


def test_fine_tune_steps_must_be_a_positive_whole_number(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0", "-5", "many"):
        with pytest.raises(SystemExit) as exit_info:
            main(["classify", "train", "--backend", "ensemble", "--fine-tune", bad])
        assert exit_info.value.code == 2
        assert "expected a whole number of steps of at least 1" in capsys.readouterr().err
