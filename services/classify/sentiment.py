"""Sentiment (−1..1 with a label) and severity, each with a reason a person can read, in the nine supported languages:
English with VADER's lexicon and rules, the other eight with the hand-written lexicons of `lexicons.py` under the
same rules (negation, intensifiers, 'but', exclamation marks)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from services.classify.lexicons import SENTIMENT_BY_LANGUAGE, SIGNALS_BY_LANGUAGE, split
from services.classify.text import fold, folded_words, words
from shared.models import Scores, Sentiment, SentimentLabel, Severity

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


def _expand(*parts: str) -> list[str]:
    """'cancel|cancelling my|the' -> every combination, one phrase each (alternatives split on '|')."""
    phrases = [""]
    for part in parts:
        phrases = [f"{p} {alt}".strip() for p in phrases for alt in part.split("|")]
    return phrases


# Phrases (whole words, lower case) that signal severity, matched on the same tokens the classifier uses.
SIGNALS: dict[str, list[str]] = {
    "legal": [
        *"lawyer lawyers solicitor solicitors attorney attorneys sue suing court ombudsman regulator regulators".split(),
        *"ofcom ofgem ofwat fca cfpb ftc watchdog".split(),
        "legal action",
        "small claims",
        "trading standards",
        "data protection",
        "ico complaint",
        "gdpr breach",
        "class action",
    ],
    "safety": [
        *"fire smoke spark sparks sparking electrocuted injured injury injuries unsafe dangerous exploded".split(),
        *"explosion choking scalded".split(),
        "burning smell",
        "smell of gas",
        "gas smell",
        "smelt gas",
        "gas leak",
        "leaking gas",
        "carbon monoxide",
        "electric shock",
    ],
    "leave": [
        *_expand("cancel|cancelling|canceling", "my|the|our|this|everything|it"),
        *_expand("i'll|ill|i|going|gonna", "cancel|be cancelling|will cancel|to cancel"),
        *_expand("switch|switching|moving", "to|provider|supplier|bank|network|away"),
        *_expand("i'm|im|i am|we're|we are|i'll be|we'll be", "leaving|off|switching|done"),
        *_expand("close|closing", "my|the|our", "account"),
        *_expand("take|taking", "my|our", "business|money|custom", "elsewhere"),
        "leave you",
        "leaving you",
        "never again",
        "done with you",
        "last straw",
        "lost a customer",
        *_expand("moving to|going to", "a|another", "competitor|provider|bank|network|supplier"),
    ],
    "anger": [
        *"furious fuming livid outraged outrageous disgusted disgusting disgrace disgraceful appalling".split(),
        *"appalled unacceptable ridiculous angry rage scandal scandalous shambles pathetic".split(),
        "a joke",
        "sick of",
        "fed up",
    ],
}


class PhraseIndex:
    """Phrases of whole words, found at a token position. A word ending in '*' is a stem (single words, or the last
    word of a phrase): it matches every word it starts, and only words at least as long as the stem."""

    MIN_STEM = 3

    def __init__(self, entries: Sequence[tuple[str, object]]) -> None:
        self._exact: dict[str, list[tuple[tuple[str, ...], bool, object]]] = {}
        self._stems: dict[str, list[tuple[tuple[str, ...], bool, object]]] = {}
        self.longest_stem = 0
        for phrase, payload in entries:
            stem = phrase.endswith("*")
            tokens = folded_words(phrase.rstrip("*"))  # tokenised as texts are: 'vou-me embora', "l'appli"
            if not tokens:
                continue
            if len(tokens) == 1 and stem:
                self._stems.setdefault(tokens[0], []).append((tokens, True, payload))
                self.longest_stem = max(self.longest_stem, len(tokens[0]))
            else:
                self._exact.setdefault(tokens[0], []).append((tokens, stem, payload))

    def at(self, tokens: Sequence[str], i: int) -> list[tuple[int, object]]:
        """(length in tokens, payload) of every phrase that starts at token i, longest first."""
        token = tokens[i]
        found: list[tuple[int, object]] = []
        for phrase, stem, payload in self._exact.get(token, ()):
            n = len(phrase)
            window = tuple(tokens[i : i + n])
            if len(window) < n or window[:-1] != phrase[:-1]:
                continue
            if window[-1] == phrase[-1] or (stem and window[-1].startswith(phrase[-1])):
                found.append((n, payload))
        for k in range(min(len(token), self.longest_stem), self.MIN_STEM - 1, -1):
            for _, _, payload in self._stems.get(token[:k], ()):
                found.append((1, payload))
        found.sort(key=lambda item: -item[0])
        return found


_BY_FIRST_WORD: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
for _signal, _phrases in SIGNALS.items():
    for _phrase in _phrases:
        _tokens = tuple(_phrase.split())
        _BY_FIRST_WORD.setdefault(_tokens[0], []).append((_signal, _tokens))

_SIGNAL_INDEX: dict[str, PhraseIndex] = {
    language: PhraseIndex([(p, signal) for signal, phrases in by_signal.items() for p in split(phrases)])
    for language, by_signal in SIGNALS_BY_LANGUAGE.items()
}


def signals_in(tokens: Sequence[str], language: str | None = None) -> dict[str, str]:
    """Each severity signal found in the (accent-folded) tokens, with the first phrase that showed it: English
    phrases always (English words turn up in every language's feedback), and the language's own when it has any."""
    found: dict[str, str] = {}
    index = _SIGNAL_INDEX.get(language or "")
    for i, token in enumerate(tokens):
        for signal, phrase in _BY_FIRST_WORD.get(token, ()):
            if signal not in found and tuple(tokens[i : i + len(phrase)]) == phrase:
                found[signal] = " ".join(phrase)
        if index is not None:
            for n, payload in index.at(tokens, i):
                signal = str(payload)
                if signal not in found:
                    found[signal] = " ".join(tokens[i : i + n])
    return found


@dataclass(frozen=True)
class _Lexicon:
    valence: dict[str, float]
    boosters: dict[str, float]
    negations: frozenset[str]


# VADER's words were rated on social media, where "please" reads as friendly (+1.3). In feedback it asks for
# something to be put right, and it turned "I was charged twice ... Please refund the duplicate payment." positive.
_NOT_A_FEELING = frozenset({"please"})


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    """VADER's word list (7,500 rated words, less `_NOT_A_FEELING`), boosters and negations, read from the
    vaderSentiment package."""
    from vaderSentiment import vaderSentiment as vader

    analyzer = vader.SentimentIntensityAnalyzer()
    return _Lexicon(
        valence={w: float(v) for w, v in analyzer.lexicon.items() if w not in _NOT_A_FEELING},
        boosters={w: float(v) for w, v in vader.BOOSTER_DICT.items() if " " not in w},
        negations=frozenset(w for w in vader.NEGATE if " " not in w) | {"cannot", "nobody", "nothing", "none"},
    )


@dataclass(frozen=True)
class _Language:
    """Another language's lexicon under VADER's rules: phrases with a valence, negations, intensifiers, 'but'."""

    valence: PhraseIndex
    boosters: frozenset[str]
    negations: frozenset[str]
    but: frozenset[str]


BOOST = 0.293  # VADER's increment for an intensifier


@lru_cache(maxsize=16)
def _language_lexicon(language: str) -> _Language | None:
    table = SENTIMENT_BY_LANGUAGE.get(language)
    if table is None:
        return None
    entries = [(p, float(strength)) for strength in ("-3", "-2", "2", "3") for p in split(table[strength])]

    def words_of(key: str) -> frozenset[str]:
        return frozenset(fold(w.casefold()) for w in split(table[key]) if " " not in w)

    return _Language(PhraseIndex(entries), words_of("boosters"), words_of("negations"), words_of("but"))


def _compound(
    tokens: Sequence[str], exclamations: int, language: str | None = None
) -> tuple[float, list[tuple[str, float]]]:
    """VADER's rules in one pass: negation (x -0.74 within 3 words), boosters, 'but' shifts weight to what follows,
    up to 4 exclamation marks add emphasis; normalised with x / sqrt(x^2 + 15). English words are rated by VADER's
    lexicon; the other supported languages by theirs (`lexicons.py`)."""
    other = _language_lexicon(language) if language else None
    if other is not None:
        return _finish(*_score_language(tokens, other), exclamations)
    lex = _lexicon()
    valence, boosters, negations = lex.valence, lex.boosters, lex.negations
    scored: list[tuple[int, float]] = []
    felt: list[tuple[str, float]] = []
    but_at = -1
    for i, word in enumerate(tokens):
        if word == "but":
            but_at = i
        value = valence.get(word)
        if value is None or word in boosters:
            continue
        for back in (1, 2, 3):
            if i - back < 0:
                break
            prev = tokens[i - back]
            if prev in boosters:
                value += math.copysign(boosters[prev] * (1.0, 0.95, 0.9)[back - 1], value)
            if prev in negations or prev.endswith("n't"):
                value *= -0.74
        scored.append((i, value))
        felt.append((word, value))
    return _finish(scored, felt, but_at, exclamations)


def _score_language(
    tokens: Sequence[str], lex: _Language
) -> tuple[list[tuple[int, float]], list[tuple[str, float]], int]:
    scored: list[tuple[int, float]] = []
    felt: list[tuple[str, float]] = []
    but_at = -1
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if word in lex.but:
            but_at = i
        found = lex.valence.at(tokens, i) if word not in lex.boosters else []
        if not found:
            i += 1
            continue
        n, payload = found[0]
        value = float(payload)  # type: ignore[arg-type]
        phrase = tokens[i : i + n]
        negated = any(t in lex.negations for t in phrase)  # 'no funciona': the negation is the phrase's own
        for back in (1, 2, 3):
            if i - back < 0:
                break
            prev = tokens[i - back]
            if prev in lex.boosters:
                value += math.copysign(BOOST * (1.0, 0.95, 0.9)[back - 1], value)
            if prev in lex.negations and not negated:
                value *= -0.74  # once: French 'ne ... pas', Polish 'nie ... nigdy' are one negation
                negated = True
        scored.append((i, value))
        felt.append((" ".join(phrase), value))
        i += n
    return scored, felt, but_at


def _finish(
    scored: list[tuple[int, float]], felt: list[tuple[str, float]], but_at: int, exclamations: int
) -> tuple[float, list[tuple[str, float]]]:
    if not scored:
        return 0.0, felt
    total = sum(v * (0.5 if 0 <= but_at and i < but_at else 1.5 if 0 <= but_at < i else 1.0) for i, v in scored)
    total += math.copysign(min(exclamations, 4) * 0.292, total) if total else 0.0
    return total / math.sqrt(total * total + 15.0), felt


def _label(score: float) -> SentimentLabel:
    if score >= POSITIVE_AT:
        return SentimentLabel.positive
    if score <= NEGATIVE_AT:
        return SentimentLabel.negative
    return SentimentLabel.neutral


def _from_scores(scores: Scores) -> Sentiment | None:
    """A sentiment from survey scores when there is no text: CSAT 1-5, NPS 0-10, CES 1-7 (lower is better)."""
    if scores.csat is not None:
        value, why = (scores.csat - 3) / 2, f"from CSAT {scores.csat}/5"
    elif scores.nps is not None:
        value, why = (scores.nps - 5) / 5, f"from NPS answer {scores.nps}/10"
    elif scores.ces is not None:
        value, why = (4 - scores.ces) / 3, f"from effort score {scores.ces}/7"
    else:
        return None
    value = max(-1.0, min(1.0, value))
    return Sentiment(score=round(value, 3), label=_label(value), explanation=why)


def sentiment_of(text: str | None, scores: Scores | None = None, language: str | None = None) -> Sentiment:
    """A VADER-style compound score of the text in its language (English when not given), explained by the words
    that carried the most feeling."""
    if not text or not text.strip():
        found = _from_scores(scores) if scores is not None else None
        return found or Sentiment(score=0.0, label=SentimentLabel.neutral, explanation="no text and no scores")
    folded = folded_words(text)
    score, felt = _compound(folded, text.count("!"), language)
    if felt and not text.isascii():
        shown = dict(zip(folded, words(text), strict=True))  # the words as written, accents and all
        felt = [(" ".join(shown.get(w, w) for w in phrase.split()), v) for phrase, v in felt]
    felt.sort(key=lambda kv: -abs(kv[1]))
    seen: set[str] = set()
    top = [(w, v) for w, v in felt if not (w in seen or seen.add(w))][:3]  # type: ignore[func-returns-value]
    why = "words: " + ", ".join(f"'{w}' ({v:+.1f})" for w, v in top) if top else "no words with a clear feeling"
    return Sentiment(score=round(max(-1.0, min(1.0, score)), 3), label=_label(score), explanation=why)


def severity_of(text: str | None, sentiment: Sentiment, language: str | None = None) -> tuple[Severity, str]:
    """`critical` for legal or regulator mentions, safety, or a threat to leave said in anger; then high/normal/low.
    The signals are English ones plus those of the text's language."""
    found = signals_in(folded_words(text), language) if text else {}
    if "legal" in found:
        return Severity.critical, f"legal or regulator mention: '{found['legal']}'"
    if "safety" in found:
        return Severity.critical, f"safety concern: '{found['safety']}'"
    leave, anger = found.get("leave"), found.get("anger")
    if leave and (anger or sentiment.score <= -0.5):
        why = f"'{anger}'" if anger else f"sentiment {sentiment.score:+.2f}"
        return Severity.critical, f"threat to leave ('{leave}') with anger ({why})"
    if leave:
        return Severity.high, f"threat to leave: '{leave}'"
    if anger:
        return Severity.high, f"anger: '{anger}'"
    if sentiment.score <= -0.6:
        return Severity.high, f"strongly negative sentiment ({sentiment.score:+.2f})"
    if sentiment.score >= 0.3:
        return Severity.low, f"positive sentiment ({sentiment.score:+.2f})"
    return Severity.normal, "no severity signal"
