"""Which language a text is in, offline: py3langid's naive Bayes model (97 languages, shipped inside the package).

The classifier reads nine languages (`SUPPORTED`); a text in any other goes to `unassigned` with the reason
'unsupported language' rather than getting a confident guess from models that never saw its words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from services.classify.text import BoundedCache, words

SUPPORTED: tuple[str, ...] = ("en", "fr", "de", "es", "it", "nl", "pt", "pl", "sv")
NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
    "pl": "Polish",
    "sv": "Swedish",
}
# Only the start of a long text is read: enough for the language, and detection stays cheap on 10,000 characters.
MAX_CHARS = 600
# A Latin-script text goes to a language outside the nine only when the detector gives the languages outside them
# this much probability together (Danish and Norwegian split theirs; Czech and Slovak too) and the text is long
# enough to tell; a short or unsure text is read as the likeliest of the nine (short feedback is often mis-detected:
# "ok merci" or "website info good" say little). On the 1,890 texts of the held-out and domain sets the highest such
# mass was 0.87 (a three-word text); on two dozen texts in twelve other languages the lowest was 0.999.
UNSUPPORTED_AT = 0.95
UNSUPPORTED_MIN_WORDS = 4


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1 as py3langid gives it; "und" when the text has no letters
    confidence: float
    supported: bool

    @property
    def reason(self) -> str:
        return f"unsupported language '{self.code}' (detected at {self.confidence:.2f}); left for triage"


UNDETERMINED = Language("und", 0.0, True)
_SEEN: BoundedCache[Language] = BoundedCache(max_bytes=4 << 20, max_key=MAX_CHARS)


@lru_cache(maxsize=1)
def _identifier() -> _Detector:
    """py3langid with probabilities over every language it knows: one model in memory (about 78 MiB), loaded once.
    The probabilities over the nine alone are the same ones renormalised, so no second copy is needed."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return _Detector(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))


class _Detector:
    """py3langid's naive Bayes model applied to many texts in one sparse matrix product. Per text, py3langid's `rank`
    costs ~0.2 ms, most of it numpy calls on one row and a sort of 97 languages; here the per-text work is the walk
    over its bytes. The arithmetic is `rank`'s (log1p of feature counts times the per-language table, plus the prior,
    scaled by 1/sqrt(bytes), softmax, script aliases merged), as a test checks against `rank` itself."""

    def __init__(self, identifier: Any) -> None:
        from py3langid.langid import visit_counts

        self._identifier, self._visit = identifier, visit_counts
        classes = list(identifier.nb_classes)
        labels = list(dict.fromkeys(classes))  # a script alias (srl -> sr) shares its label's first column
        self.labels = labels
        self._columns = np.array([classes.index(label) for label in labels])
        self._aliases = list(identifier._alias_pairs)
        self._outside = np.array([label not in SUPPORTED for label in labels])

    def rank(self, text: str) -> list[tuple[str, float]]:
        """py3langid's own ranking of one text (every language, likeliest first)."""
        return list(self._identifier.rank(text))

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per label (`labels`): what `rank` gives each language."""
        identifier, visit = self._identifier, self._visit
        rows: list[int] = []
        features: list[int] = []
        counts: list[int] = []
        lengths = np.ones(len(texts), dtype=np.float32)
        empty = np.zeros(len(texts), dtype=bool)
        for row, text in enumerate(texts):
            encoded = identifier._encode(text)
            lengths[row] = len(encoded) or 1
            visits = visit(identifier.tk_nextmove, identifier._rowbase, identifier.tk_output, encoded)
            if not visits:
                empty[row] = True
                continue
            rows += [row] * len(visits)
            features += visits.keys()
            counts += visits.values()
        used, column = np.unique(np.asarray(features, dtype=np.intp), return_inverse=True)
        counts_x = sp.csr_matrix(
            (np.log1p(np.asarray(counts, dtype=np.float32)), (np.asarray(rows, dtype=np.intp), column)),
            shape=(len(texts), len(used)),
        )
        scores = np.asarray(counts_x @ identifier.nb_ptc[used].astype(np.float32)) + identifier.nb_pc
        scores[empty] = 0.0  # no feature at all: every language alike, as py3langid does
        scores *= (1.0 / np.sqrt(lengths))[:, None]
        np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for first, alias in self._aliases:
            scores[:, first] += scores[:, alias]
        merged: np.ndarray = scores[:, self._columns]
        return merged

    def score_many(self, texts: Sequence[str]) -> list[_Verdict]:
        """py3langid's verdict on each text."""
        if not texts:
            return []
        probs = self.probabilities(texts)
        best = probs.argmax(axis=1)
        outside = probs[:, self._outside].sum(axis=1)
        nine_probs = np.where(self._outside, -1.0, probs)
        nine = nine_probs.argmax(axis=1)
        nine_total = probs[:, ~self._outside].sum(axis=1)
        nine_total[nine_total == 0] = 1.0
        labels = self.labels
        return [
            _Verdict(labels[b], float(probs[r, b]), float(outside[r]), labels[n], float(probs[r, n] / nine_total[r]))
            for r, (b, n) in enumerate(zip(best.tolist(), nine.tolist(), strict=True))
        ]


class _Verdict(NamedTuple):
    code: str  # the likeliest language of all
    p: float
    outside: float  # the probability of every language outside the nine, together
    nine: str  # the likeliest of the nine
    nine_p: float  # its probability renormalised over the nine


def load() -> None:
    """Load the detector now (at start-up), so the first text that needs it neither waits nor grows the process."""
    _identifier()


_LETTER = re.compile(r"[^\W\d_]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")


def _latin_share(text: str) -> tuple[float, bool]:
    """The share of the text's letters that are Latin, and whether it has any letters at all."""
    if text.isascii():
        return 1.0, _ASCII_LETTER.search(text) is not None
    letters = len(_LETTER.findall(text))
    return (len(_LATIN_LETTER.findall(text)) / letters if letters else 1.0), letters > 0


def detect(text: str | None) -> Language:
    """The text's language and the detector's probability for it."""
    return detect_many([text])[0]


def detect_many(texts: Sequence[str | None]) -> list[Language]:
    """Each text's language, remembered per text (a batch asks for each text's language twice: the service, then the
    per-language model). The texts the function words cannot settle are scored by py3langid together, in one
    matrix product: the same probabilities as its `rank`, a fraction of the per-call cost."""
    samples = [(text or "")[:MAX_CHARS] for text in texts]
    found: dict[int, Language] = {}
    unsure: list[int] = []
    for i, sample in enumerate(samples):
        seen = _SEEN.get(sample)
        if seen is not None:
            found[i] = seen
            continue
        quick = _quick(sample)
        if quick is None:
            unsure.append(i)
            continue
        found[i] = quick
        _SEEN.put(sample, quick, 120)
    for i, scored in zip(unsure, _scored([samples[i] for i in unsure]), strict=True):
        found[i] = scored
        _SEEN.put(samples[i], scored, 120)
    return [found[i] for i in range(len(samples))]


# Function words that only one of the nine languages uses often (words two of them share - 'de', 'que', 'la', 'en',
# 'con', 'per', 'is', 'to', 'no', 'i' - are left out). Counting them over the tokens the classifier makes anyway
# is ~40 times cheaper than py3langid; it decides only when the evidence is one-sided, else py3langid does.
_MARKERS: dict[str, frozenset[str]] = {
    language: frozenset(words.split())
    for language, words in {
        "en": "the and my you your was with this that have been it's i'm don't can't what why they just from would"
        " there it of are but not our us which when who how had than then them their only though because since"
        " still now again never new way off up out after before get got did does didn't doesn't isn't wasn't won't"
        " i've i'd we're you're they're were here about into through very too some more yet every please thanks"
        " thank could should",
        "fr": "les des est et je pas pour avec mon vous sur dans ce c'est n' j' qu' c' très ça au été être",
        "de": "der die das und ist nicht ich ein eine mit dem auf für von zu sie wir mein meine noch schon auch aber"
        " bei seit kein keine wurde habe hat",
        "es": "el los las y pero muy hace también todavía cuando hay estoy ya sido",
        "it": "gli della che è non sono ho anche alla dopo ancora nel questo molto perché niente sempre mio mia ci",
        "nl": "het een niet ik van dat op voor mijn zijn maar nog geen heb wordt bij ook wel",
        "pt": "os não uma meu minha mas muito foi ao já também ainda nem pelo pela dos das você",
        "pl": "nie się że jest w z już jak po od przez co czy dla jeszcze tylko mam był była",
        "sv": "och jag inte är att på för också hade vad ett till bara sedan",
    }.items()
}


# Each marker word and the languages it marks: one dictionary look-up per distinct token instead of nine set
# intersections (the check runs on every text, so it is on the classifier's hot path).
def _marked_by(markers: dict[str, frozenset[str]]) -> dict[str, tuple[str, ...]]:
    marked: dict[str, tuple[str, ...]] = {}
    for language, marks in markers.items():
        for word in marks:
            marked[word] = (*marked.get(word, ()), language)
    return marked


_MARKED = _marked_by(_MARKERS)


def _by_function_words(sample: str) -> Language | None:
    counts: dict[str, int] = {}
    for token in set(words(sample)):
        for language in _MARKED.get(token, ()):
            counts[language] = counts.get(language, 0) + 1
    if not counts:
        return None
    language = max(counts, key=counts.__getitem__)
    best = counts[language]
    second = max((n for other, n in counts.items() if other != language), default=0)
    if (best >= 2 and second == 0) or (best >= 3 and best >= 3 * second):
        return Language(language, round(best / sum(counts.values()), 3), True)
    return None


def _quick(sample: str) -> Language | None:
    """The language when the text alone settles it (no letters; a Latin text whose function words are one-sided)."""
    latin, has_letters = _latin_share(sample)
    if not has_letters:
        return UNDETERMINED
    return _by_function_words(sample) if latin == 1.0 else None


def _scored(samples: list[str]) -> list[Language]:
    """py3langid's verdict on each sample, and what the classifier makes of it."""
    out = []
    for sample, verdict in zip(samples, _identifier().score_many(samples), strict=True):
        if verdict.code in SUPPORTED:
            out.append(Language(verdict.code, round(verdict.p, 3), True))
        elif _latin_share(sample)[0] < 0.5 or (
            verdict.outside >= UNSUPPORTED_AT and len(sample.split()) >= UNSUPPORTED_MIN_WORDS
        ):
            out.append(Language(verdict.code, round(verdict.p, 3), False))
        else:  # the likeliest of the nine, renormalised
            out.append(Language(verdict.nine, round(verdict.nine_p, 3), True))
    return out
