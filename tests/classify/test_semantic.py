"""The semantic back-end (optional extra): skipped when tokenizers, safetensors or the packaged model is missing.

There is no torch to compare the numpy encoder with, so it is checked by invariants (padding, norms), by meaning
(paraphrases close, unrelated texts apart) and by the similarities that sentence-transformers publishes."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.classify.model_store import load, save
from services.classify.semantic import semantic_available
from services.classify.service import Classifier
from services.classify.training import fit, journey_rows
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
    rows = [r for r in journey_rows(journey()) if r.language == "en"]  # the English model's rows: one back-end
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

    from services.classify.model_store import available_versions
    from services.cli.main import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("CLASSIFY_MODEL_DIR", str(tmp_path))
    assert main(["classify", "train", "--backend", "semantic", "--fine-tune", "2", "--no-corrections"]) == 0
    assert "encoder fine-tuned for 2 steps" in capsys.readouterr().out
    (version,) = available_versions(tmp_path, "semantic")
    assert json.loads((tmp_path / version / "meta.json").read_text())["fine_tune_steps"] == 2
    # The default map has keywords in nine languages: one fine-tuned model per language; the English one here.
    assert load(tmp_path, version).backend.models["en"].weights is not None  # type: ignore[attr-defined]


_PROBES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "my refund never arrived",
    "I still have not got my money back",
    "the man on the phone was so rude to me",
    "ok",
    "",
    "I ordered a blue jumper on Monday, it arrived in the wrong size, so I sent it back and I'm still waiting. " * 4,
]


def test_encoder_gives_unit_vectors_the_same_in_a_batch_as_one_at_a_time() -> None:
    import numpy as np

    from services.classify.encoder import packaged_encoder

    encoder = packaged_encoder()
    together = encoder.encode(_PROBES, batch_size=4)  # lengths differ within a batch: padding must be masked
    alone = np.vstack([encoder.encode([text]) for text in _PROBES])
    assert together.shape == (len(_PROBES), 384) and together.dtype == np.float32
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_encoder_puts_paraphrases_close_and_unrelated_texts_apart() -> None:
    from services.classify.encoder import packaged_encoder

    weather, sunny, stadium, refund, money_back, rude = packaged_encoder().encode(_PROBES[:6])
    # The similarities sentence-transformers' documentation prints for all-MiniLM-L6-v2.
    assert abs(float(weather @ sunny) - 0.6660) < 1e-3 and abs(float(weather @ stadium) - 0.1046) < 1e-3
    assert float(refund @ money_back) > 0.6
    assert float(refund @ rude) < 0.3 and float(money_back @ stadium) < 0.3


def test_adapter_gradient_matches_finite_differences() -> None:
    import numpy as np

    from services.classify.semantic import adapter_loss_and_grad

    rng = np.random.default_rng(3)
    anchors, positives = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    adapter = np.eye(5) + 0.3 * rng.normal(size=(5, 5))
    same = np.zeros((4, 4), dtype=bool)
    same[0, 2] = same[2, 0] = True  # pairs 0 and 2 share a stage
    loss, grad = adapter_loss_and_grad(anchors, positives, adapter, same, scale=3.0)
    numeric = np.zeros_like(adapter)
    for i in range(5):
        for j in range(5):
            step = np.zeros_like(adapter)
            step[i, j] = 1e-6
            plus = adapter_loss_and_grad(anchors, positives, adapter + step, same, scale=3.0)[0]
            minus = adapter_loss_and_grad(anchors, positives, adapter - step, same, scale=3.0)[0]
            numeric[i, j] = (plus - minus) / 2e-6
    assert loss > 0 and np.abs(grad).max() > 1e-3
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_adapter_training_pulls_stages_together_and_pushes_them_apart() -> None:
    import numpy as np

    from services.classify.encoder import normalize, packaged_encoder
    from services.classify.semantic import fine_tune

    rows = [r for r in journey_rows(journey()) if r.language == "en"]  # the English encoder, English rows
    texts, labels = [r.text for r in rows], np.asarray([r.stage for r in rows])
    base = packaged_encoder().encode(texts)
    same, other = labels[:, None] == labels[None, :], ~np.eye(len(labels), dtype=bool)

    def separation(vectors: np.ndarray) -> float:
        sims = vectors @ vectors.T
        return float(sims[same & other].mean() - sims[~same].mean())

    adapter = fine_tune(texts, list(labels), steps=200, embeddings=base)["adapter"]
    assert adapter.shape == (384, 384) and np.isfinite(adapter).all()
    assert separation(normalize(base @ adapter)) > separation(base) + 0.05


def test_an_artifact_tuned_by_the_torch_back_end_loads_with_the_packaged_encoder(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import pickle

    import numpy as np

    from services.classify.semantic import SemanticBackend

    old = SemanticBackend(fine_tune_steps=300)
    old.weights = {"0.auto_model.embeddings.word_embeddings.weight": np.zeros((2, 2), dtype=np.float32)}
    with caplog.at_level("WARNING"):
        again = pickle.loads(pickle.dumps(old))  # noqa: S301 - our own bytes
    assert again.weights is None and again.fine_tune_steps == 300
    assert "torch" in caplog.text
