"""The semantic back-end (optional extra): skipped when sentence-transformers or the packaged model is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.classify.semantic import semantic_available
from services.classify.service import Classifier
from services.classify.training import fit, journey_rows, load, save
from shared.models import Method
from tests.classify.factories import feedback, journey

pytestmark = pytest.mark.skipif(not semantic_available(), reason="the [semantic] extra is not installed")


def test_semantic_backend_classifies_offline_explains_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = fit("semantic", journey_rows(journey()), source="artifact", version="20260101T000000-semantic")
    classifier = Classifier(journey(), model, 0.45)
    texts = ["my money never came back after I sent the jumper back", "the man on the phone was so rude to me"]
    results = classifier.classify_many([feedback(t) for t in texts])
    assert [r.stage for r in results] == ["pay", "get_help"]
    assert all(r.method is Method.model and "closest example" in r.explanation for r in results)
    save(model, tmp_path)
    again = load(tmp_path, model.version)
    assert again.backend.classes == model.backend.classes
    assert Classifier(journey(), again, 0.45).classify(feedback(texts[0])).stage == "pay"


def test_fine_tuned_encoder_differs_from_the_packaged_one_and_travels_in_the_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from services.classify.semantic import SemanticBackend

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rows = journey_rows(journey())
    tuned = fit("semantic", rows, source="artifact", version="20260101T000000-semantic", fine_tune_steps=3)
    backend = tuned.backend
    assert isinstance(backend, SemanticBackend) and backend.weights is not None
    texts = ["my money never came back after I sent the jumper back", "the man on the phone was so rude to me"]
    packaged = SemanticBackend()
    assert not np.allclose(backend.embed(texts), packaged.embed(texts), atol=1e-4)  # three steps moved the weights
    save(tuned, tmp_path)
    again = load(tmp_path, tuned.version).backend
    assert isinstance(again, SemanticBackend) and again._tuned is None  # rebuilt from the weights on first use
    np.testing.assert_allclose(again.predict_proba(texts), backend.predict_proba(texts), atol=1e-5)


def test_fine_tuning_needs_two_stages_with_two_texts() -> None:
    from services.classify.semantic import fine_tune

    with pytest.raises(ValueError, match="at least two stages"):
        fine_tune(["only one", "stage here", "and a lone one"], ["pay", "pay", "use"], steps=1)


def test_train_command_fine_tunes_and_records_it_in_the_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from services.classify.training import available_versions
    from services.cli.main import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CLASSIFY_MODEL_DIR", str(tmp_path))
    assert main(["classify", "train", "--backend", "semantic", "--fine-tune", "2", "--no-corrections"]) == 0
    assert "encoder fine-tuned for 2 steps" in capsys.readouterr().out
    (version,) = available_versions(tmp_path, "semantic")
    assert json.loads((tmp_path / version / "meta.json").read_text())["fine_tune_steps"] == 2
    assert load(tmp_path, version).backend.weights is not None  # type: ignore[attr-defined]
