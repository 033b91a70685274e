"""Which language a text is in, offline: py3langid's naive Bayes model (97 languages, shipped inside the package).

The classifier reads nine languages (`SUPPORTED`); a text in any other goes to `unassigned` with the reason
'unsupported language' rather than getting a confident guess from models that never saw its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
def _identifier() -> Any:
    """py3langid with probabilities over every language it knows: one model in memory (about 78 MiB), loaded once.
    The probabilities over the nine alone are the same ones renormalised, so no second copy is needed."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def load() -> None:
    """Load the detector now (at start-up), so the first text that needs it neither waits nor grows the process."""
    _identifier()


_LETTER = re.compile(r"[^\W\d_]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")


def _latin_share(text: str) -> tuple[float, int]:
    letters = len(_LETTER.findall(text))
    if text.isascii() or not letters:
        return 1.0, letters
    return len(_LATIN_LETTER.findall(text)) / letters, letters


def detect(text: str | None) -> Language:
    """The text's language and the detector's probability for it; remembered per text, as a batch asks for each
    text's language twice (the service, then the per-language model)."""
    sample = (text or "")[:MAX_CHARS]
    found = _SEEN.get(sample)
    if found is None:
        found = _detect(sample)
        _SEEN.put(sample, found, 120)
    return found


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
    counts = dict.fromkeys(_MARKERS, 0)
    for token in set(words(sample)):
        for language in _MARKED.get(token, ()):
            counts[language] += 1
    hits = sorted(((n, language) for language, n in counts.items()), reverse=True)
    (best, language), (second, _) = hits[0], hits[1]
    if (best >= 2 and second == 0) or (best >= 3 and best >= 3 * second):
        return Language(language, round(best / sum(n for n, _ in hits), 3), True)
    return None


def _detect(sample: str) -> Language:
    latin, letters = _latin_share(sample)
    if not letters:
        return UNDETERMINED
    if latin == 1.0:
        quick = _by_function_words(sample)
        if quick is not None:
            return quick
    ranked = _identifier().rank(sample)
    code, p = str(ranked[0][0]), float(ranked[0][1])
    if code in SUPPORTED:
        return Language(code, round(p, 3), True)
    outside = sum(float(q) for c, q in ranked if c not in SUPPORTED)
    if latin < 0.5 or (outside >= UNSUPPORTED_AT and len(sample.split()) >= UNSUPPORTED_MIN_WORDS):
        return Language(code, round(p, 3), False)
    nine = [(str(c), float(q)) for c, q in ranked if c in SUPPORTED]  # the likeliest of the nine, renormalised
    total = sum(q for _, q in nine) or 1.0
    code, p = max(nine, key=lambda pair: pair[1])
    return Language(code, round(p / total, 3), True)
