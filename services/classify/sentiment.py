"""Sentiment (VADER, −1..1 with a label) and severity, each with a reason a person can read."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from shared.models import Scores, Sentiment, SentimentLabel, Severity

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
_TOKEN = re.compile(r"[a-z']+")

_SIGNALS = {
    "legal": (
        r"\b(lawyers?|solicitors?|attorneys?|sue|suing|legal action|court|small claims|ombudsman|regulators?|ofcom|ofgem|"
        r"ofwat|fca|cfpb|ftc|trading standards|watchdog|data protection|ico complaint|gdpr breach|class action)\b"
    ),
    "safety": (
        r"\b(fire|on fire|caught fire|smoke|sparks?|sparking|burning smell|smell of gas|gas smell|smelt gas|"
        r"gas leak|leaking gas|carbon monoxide|electric shock|electrocuted|injured|injury|injuries|"
        r"unsafe|dangerous|exploded|explosion|choking|scalded)\b"
    ),
    "leave": (
        r"\b(cancel(ling|ing)? (my|the|our|this|everything|it all)|(i'?ll|i will|going to) cancel|switch\w* (to|provider|supplier|bank|network)|leav(e|ing) you|i'?m leaving|i'?ll be leaving|"
        r"clos(e|ing) (my|the) account|take my (business|money) elsewhere|taking my business elsewhere|never again|"
        r"done with you|last straw|lost a customer|moving to (a|another) (competitor|provider|bank|network|supplier))\b"
    ),
    "anger": (
        r"\b(furious|fuming|livid|outraged|outrageous|disgusted|disgusting|disgrace(ful)?|appalling|appalled|"
        r"unacceptable|ridiculous|a joke|sick of|fed up|angry|rage|scandal(ous)?|shambles|pathetic)\b"
    ),
}
# One scan of the lowercased text finds every signal (alternations inside named groups).
SIGNALS = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _SIGNALS.items()))


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


def _compound(tokens: list[str], exclamations: int) -> tuple[float, list[tuple[str, float]]]:
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
    score, felt = _compound(_TOKEN.findall(text.lower()), text.count("!"))
    felt.sort(key=lambda kv: -abs(kv[1]))
    seen: set[str] = set()
    top = [(w, v) for w, v in felt if not (w in seen or seen.add(w))][:3]  # type: ignore[func-returns-value]
    why = "words: " + ", ".join(f"'{w}' ({v:+.1f})" for w, v in top) if top else "no words with a clear feeling"
    return Sentiment(score=round(max(-1.0, min(1.0, score)), 3), label=_label(score), explanation=why)


def severity_of(text: str | None, sentiment: Sentiment) -> tuple[Severity, str]:
    """`critical` for legal or regulator mentions, safety, or a threat to leave said in anger; then high/normal/low."""
    found: dict[str, str] = {}
    for match in SIGNALS.finditer((text or "").lower()):
        if match.lastgroup is not None:
            found.setdefault(match.lastgroup, match.group(0))
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
