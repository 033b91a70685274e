"""Sentiment (VADER, −1..1 with a label) and severity, each with a reason a person can read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from services.classify.backends import words
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
_BY_FIRST_WORD: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
for _signal, _phrases in SIGNALS.items():
    for _phrase in _phrases:
        _tokens = tuple(_phrase.split())
        _BY_FIRST_WORD.setdefault(_tokens[0], []).append((_signal, _tokens))


def signals_in(tokens: Sequence[str]) -> dict[str, str]:
    """Each severity signal found in the tokens, with the first phrase that showed it."""
    found: dict[str, str] = {}
    for i, token in enumerate(tokens):
        for signal, phrase in _BY_FIRST_WORD.get(token, ()):
            if signal not in found and tuple(tokens[i : i + len(phrase)]) == phrase:
                found[signal] = " ".join(phrase)
    return found


@dataclass(frozen=True)
class _Lexicon:
    valence: dict[str, float]
    boosters: dict[str, float]
    negations: frozenset[str]


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    """VADER's word list (7,500 rated words), boosters and negations, read from the vaderSentiment package."""
    from vaderSentiment import vaderSentiment as vader

    analyzer = vader.SentimentIntensityAnalyzer()
    return _Lexicon(
        valence={w: float(v) for w, v in analyzer.lexicon.items()},
        boosters={w: float(v) for w, v in vader.BOOSTER_DICT.items() if " " not in w},
        negations=frozenset(w for w in vader.NEGATE if " " not in w) | {"cannot", "nobody", "nothing", "none"},
    )


def _compound(tokens: Sequence[str], exclamations: int) -> tuple[float, list[tuple[str, float]]]:
    """VADER's rules in one pass: negation (x -0.74 within 3 words), boosters, 'but' shifts weight to what follows,
    up to 4 exclamation marks add emphasis; normalised with x / sqrt(x^2 + 15)."""
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


def sentiment_of(text: str | None, scores: Scores | None = None) -> Sentiment:
    """A VADER-style compound score of the text, explained by the words that carried the most feeling."""
    if not text or not text.strip():
        found = _from_scores(scores) if scores is not None else None
        return found or Sentiment(score=0.0, label=SentimentLabel.neutral, explanation="no text and no scores")
    score, felt = _compound(words(text), text.count("!"))
    felt.sort(key=lambda kv: -abs(kv[1]))
    seen: set[str] = set()
    top = [(w, v) for w, v in felt if not (w in seen or seen.add(w))][:3]  # type: ignore[func-returns-value]
    why = "words: " + ", ".join(f"'{w}' ({v:+.1f})" for w, v in top) if top else "no words with a clear feeling"
    return Sentiment(score=round(max(-1.0, min(1.0, score)), 3), label=_label(score), explanation=why)


def severity_of(text: str | None, sentiment: Sentiment) -> tuple[Severity, str]:
    """`critical` for legal or regulator mentions, safety, or a threat to leave said in anger; then high/normal/low."""
    found = signals_in(words(text)) if text else {}
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
