"""Text back-ends behind one interface: fit on labelled texts, give stage probabilities, explain a decision."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB

from services.classify.text import BoundedCache, folded_words

BACKENDS = ("tfidf", "semantic", "ensemble")


class TextBackend(Protocol):
    """What the classifier needs from a text model; `classes` orders the columns of `predict_proba`."""

    name: str
    classes: list[str]

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def explain(self, text: str, stage: str) -> str: ...


def fit_temperature(
    make: Callable[[], TextBackend], texts: Sequence[Any], labels: Sequence[str], folds: int = 3
) -> float:
    """A temperature that makes confidences honest: fitted on out-of-fold predictions of the training rows, it
    minimises their log-loss (a few dozen phrases per stage give flat, under-confident probabilities)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    smallest = min(np.unique(y, return_counts=True)[1])
    if smallest < 2:
        return 1.0
    split = StratifiedKFold(n_splits=min(folds, int(smallest)), shuffle=True, random_state=7)
    log_probs, truth = [], []
    items = list(texts)
    for train_idx, test_idx in split.split(items, y):
        model = make()
        model.fit([items[i] for i in train_idx], [labels[i] for i in train_idx])
        probs = model.predict_proba([items[i] for i in test_idx])
        cols = {c: j for j, c in enumerate(model.classes)}
        log_probs.append(np.log(np.clip(probs, 1e-9, 1.0)))
        truth.append(np.asarray([cols.get(labels[i], -1) for i in test_idx]))
    logp, idx = np.vstack(log_probs), np.concatenate(truth)
    keep = idx >= 0
    best_t, best_loss = 1.0, np.inf
    for t in np.arange(0.15, 1.51, 0.05):
        scaled = logp[keep] / t
        scaled -= scaled.max(axis=1, keepdims=True)
        norm = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        loss = -norm[np.arange(keep.sum()), idx[keep]].mean()
        if loss < best_loss:
            best_t, best_loss = float(t), float(loss)
    return best_t


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    if temperature == 1.0:
        return probs
    scaled = np.log(np.clip(probs, 1e-9, 1.0)) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    out: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return out


class TfidfBackend:
    """TF-IDF on words (1-2 grams) and characters (3-5 grams inside words); the logits of a logistic regression and
    of a complement naive Bayes on the same features, added into one linear model (no cost when classifying)."""

    name = "tfidf"

    def __init__(
        self, c: float = 20.0, *, nb_weight: float = 1.0, nb_alpha: float = 0.3, calibrate: bool = True
    ) -> None:
        self.c, self.nb_weight, self.nb_alpha, self.calibrate = c, nb_weight, nb_alpha, calibrate
        self.temperature = 1.0
        self.classes: list[str] = []
        self._words = TfidfVectorizer(analyzer=_words_and_bigrams, sublinear_tf=True, min_df=1, dtype=np.float32)
        self._chars = TfidfVectorizer(analyzer=_char_ngrams, sublinear_tf=True, min_df=1, dtype=np.float32)
        self._coef: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._intercept: np.ndarray = np.zeros(0, dtype=np.float32)
        self._word_weights: np.ndarray = np.zeros((0, 0), dtype=np.float32)
        self._word_names: list[str] = []

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> None:
        matrix = sp.hstack([self._words.fit_transform(texts), self._chars.fit_transform(texts)], format="csr")
        model = LogisticRegression(C=self.c, max_iter=3000, solver="newton-cg").fit(matrix, list(labels))
        self.classes = [str(c) for c in model.classes_]
        coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
        if coef.shape[0] == 1:  # two stages: sklearn's binary form is softmax([0, z])
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        if self.nb_weight:
            # Complement NB's joint log-likelihood is linear in the features too, so it adds to the logits. Centred
            # per feature: the same shift for every stage leaves the softmax alone and keeps explanations readable.
            log_prob = np.asarray(ComplementNB(alpha=self.nb_alpha).fit(matrix, list(labels)).feature_log_prob_)
            coef = coef + self.nb_weight * (log_prob - log_prob.mean(axis=0))
        self._coef, self._intercept = coef.astype(np.float32), intercept.astype(np.float32)
        self._fast_words = _FastTfidf(self._words, _words_and_bigrams, per_word=False)
        self._fast_chars = _FastTfidf(self._chars, _char_ngrams, per_word=True)
        if self.calibrate:
            self.temperature = fit_temperature(
                lambda: TfidfBackend(self.c, nb_weight=self.nb_weight, nb_alpha=self.nb_alpha, calibrate=False),
                texts,
                labels,
            )
        n_words = len(self._words.vocabulary_)
        # Per stage, how much each word (tf-idf weight x coefficient) pushes towards it: for explanations.
        self._word_weights = (self._coef[:, :n_words] * self._words.idf_).astype(np.float32)
        self._word_names = [str(n) for n in self._words.get_feature_names_out()]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self._predict(texts)[0]

    def _predict(self, texts: Sequence[str]) -> tuple[np.ndarray, sp.csr_matrix]:
        """softmax(logits / T) from the one folded coefficient matrix."""
        texts = list(texts)
        words_x, chars_x = self._fast_words.transform(texts), self._fast_chars.transform(texts)
        n_words = words_x.shape[1]
        coef = self._coef
        logits = words_x @ coef[:, :n_words].T + chars_x @ coef[:, n_words:].T + self._intercept
        logits = np.asarray(logits) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probs: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
        return probs, words_x

    def predict_explained(self, texts: Sequence[str], top: int = 3) -> tuple[np.ndarray, list[str]]:
        """Probabilities and, per text, the explanation of its most likely stage, from one vectorisation."""
        probs, words_x = self._predict(texts)
        return probs, self.explain_rows(words_x, probs.argmax(axis=1), top)

    def explain_rows(self, words_x: sp.csr_matrix, best: np.ndarray, top: int = 3) -> list[str]:
        """Per row, the words that pushed hardest towards the class index in `best` (tf-idf x coefficient)."""
        per_entry = np.repeat(best, np.diff(words_x.indptr))
        contributions = words_x.data * self._coef[per_entry, words_x.indices]
        out = []
        for row in range(words_x.shape[0]):
            lo, hi = words_x.indptr[row], words_x.indptr[row + 1]
            if lo == hi:
                out.append("no known words; decided on character patterns")
                continue
            chunk = contributions[lo:hi]
            order = np.argsort(-chunk)[:top]
            terms = [self._word_names[words_x.indices[lo + k]] for k in order if chunk[k] > 0]
            out.append(
                "words that weighed most: " + ", ".join(f"'{t}'" for t in terms)
                if terms
                else "no single word stood out; decided on character patterns"
            )
        return out

    def explain(self, text: str, stage: str, top: int = 3) -> str:
        """The words whose weight pushed hardest towards `stage` (same ranking as tf-idf x coefficient)."""
        if stage not in self.classes:
            return ""
        weights = self._word_weights[self.classes.index(stage)]
        vocabulary = self._words.vocabulary_
        counts: dict[int, int] = {}
        for term in _words_and_bigrams(text):
            idx = vocabulary.get(term)
            if idx is not None:
                counts[idx] = counts.get(idx, 0) + 1
        scored = sorted(((1.0 + math.log(n)) * float(weights[i]), i) for i, n in counts.items())
        terms = [self._word_names[i] for score, i in reversed(scored[-top:]) if score > 0]
        if not terms:
            return "no single word stood out; decided on character patterns"
        return "words that weighed most: " + ", ".join(f"'{t}'" for t in terms)


def _words_and_bigrams(text: str) -> list[str]:
    words = folded_words(text)
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]


class _FastTfidf:
    """The transform of a fitted TfidfVectorizer (sublinear tf, idf, l2 norm), with features looked up per word
    and cached: the same numbers as sklearn's transform, several times faster on short texts."""

    def __init__(self, fitted: TfidfVectorizer, analyzer: Callable[[str], list[str]], *, per_word: bool) -> None:
        self.vocabulary: dict[str, int] = fitted.vocabulary_
        self.idf = fitted.idf_.astype(np.float32)
        self.analyzer = analyzer
        self.per_word = per_word
        self._cache: BoundedCache[list[int]] = _word_cache()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({**state, "_cache": _word_cache()})

    def _indices(self, text: str) -> list[int]:
        vocabulary = self.vocabulary
        if not self.per_word:
            return [i for i in map(vocabulary.get, self.analyzer(text)) if i is not None]
        out: list[int] = []
        cache = self._cache
        for word in folded_words(text):
            found = cache.get(word)
            if found is None:
                found = [i for i in map(vocabulary.get, self.analyzer(word)) if i is not None]
                cache.put(word, found, 8 * len(found))
            out += found
        return out

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        indptr, indices = [0], []
        for text in texts:
            indices += self._indices(text)
            indptr.append(len(indices))
        matrix = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(texts), len(self.idf)),
        )
        matrix.sum_duplicates()
        matrix.data = (1.0 + np.log(matrix.data)) * self.idf[matrix.indices]
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        matrix.data /= np.repeat(norms, np.diff(matrix.indptr)).astype(np.float32)
        return matrix


def _word_cache() -> BoundedCache[list[int]]:
    return BoundedCache(max_bytes=16 << 20, max_key=MAX_CACHED_WORD)


# A real word is short; a 10,000-character "word" is junk or an attack: its n-grams are computed (in linear
# time) but never kept.
MAX_CACHED_WORD = 40
_NGRAM_CACHE: BoundedCache[list[str]] = BoundedCache(max_bytes=16 << 20, max_key=MAX_CACHED_WORD)


def _char_ngrams(text: str) -> list[str]:
    """Character 3-5 grams inside each word (like sklearn's char_wb), cached per word: text is Zipfian."""
    out: list[str] = []
    cache = _NGRAM_CACHE
    for word in folded_words(text):
        grams = cache.get(word)
        if grams is None:
            padded = f" {word} "
            grams = [padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
            cache.put(word, grams, 60 * len(grams))
        out += grams
    return out
