"""The ONNX Runtime encoder (part of the `[semantic]` extra): the same embeddings as the numpy encoder, in float32
exactly and in int8 closely, and models remember which encoder they were trained with."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest

from services.classify.onnx_encoder import onnx_available
from services.classify.semantic import semantic_available

pytestmark = pytest.mark.skipif(
    not (semantic_available() and onnx_available()), reason="the [semantic] extra is not installed"
)

HELDOUT = Path(__file__).resolve().parents[2] / "services/classify/data/heldout.csv"


def _heldout(n: int) -> list[str]:
    with HELDOUT.open(newline="") as f:
        return [row["text"] for _, row in zip(range(n), csv.DictReader(f), strict=False)]


@pytest.fixture(scope="module")
def numpy_vectors() -> tuple[list[str], np.ndarray]:
    from services.classify.encoder import packaged_encoder

    texts = _heldout(240)
    return texts, packaged_encoder().encode(texts)


def test_the_float_graph_reproduces_the_numpy_forward_pass(numpy_vectors: tuple[list[str], np.ndarray]) -> None:
    from services.classify.onnx_encoder import OnnxMiniLMEncoder

    texts, expected = numpy_vectors
    encoder = OnnxMiniLMEncoder(quantised=False)
    together = encoder.encode(texts, batch_size=16)  # lengths differ within a batch: padding must be masked
    np.testing.assert_allclose(together, expected, atol=1e-5)
    alone = np.vstack([encoder.encode([text]) for text in texts[:8]])
    np.testing.assert_allclose(alone, expected[:8], atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)


def test_int8_weights_keep_every_heldout_text_close_to_the_float_embedding(
    numpy_vectors: tuple[list[str], np.ndarray],
) -> None:
    from services.classify.onnx_encoder import OnnxMiniLMEncoder

    texts, expected = numpy_vectors
    quantised = OnnxMiniLMEncoder().encode(texts)
    cosines = (quantised * expected).sum(axis=1)
    np.testing.assert_allclose(np.linalg.norm(quantised, axis=1), 1.0, atol=1e-5)
    assert cosines.min() > 0.97 and cosines.mean() > 0.985, (cosines.min(), cosines.mean())
    # Close, and not collapsed: for most texts the nearest other text is the same with either encoder (0.84 here).
    sims_q, sims_f = quantised @ quantised.T, expected @ expected.T
    np.fill_diagonal(sims_q, -2)
    np.fill_diagonal(sims_f, -2)
    assert (sims_q.argmax(axis=1) == sims_f.argmax(axis=1)).mean() > 0.75


def test_a_model_embeds_with_the_encoder_it_was_trained_with(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.classify.semantic import SemanticBackend, default_encoder

    assert default_encoder() == "onnx-int8"
    monkeypatch.setenv("CLASSIFY_ENCODER", "numpy")
    assert SemanticBackend().encoder == "numpy"
    monkeypatch.setenv("CLASSIFY_ENCODER", "gpu")
    with pytest.raises(ValueError, match="CLASSIFY_ENCODER='gpu'"):
        default_encoder()
    monkeypatch.delenv("CLASSIFY_ENCODER")

    trained = SemanticBackend()
    trained.fit(
        ["refund never came", "money back please", "app crashes on login", "cannot log in"],
        ["pay", "pay", "use", "use"],
    )
    again = pickle.loads(pickle.dumps(trained))  # noqa: S301 - our own bytes
    assert again.encoder == "onnx-int8"
    np.testing.assert_allclose(
        again.predict_proba(["where is my refund"]), trained.predict_proba(["where is my refund"])
    )

    older = trained.__getstate__()
    del older["encoder"]  # an artifact saved before the ONNX encoder existed
    restored = SemanticBackend.__new__(SemanticBackend)
    restored.__setstate__(older)
    assert restored.encoder == "numpy"
