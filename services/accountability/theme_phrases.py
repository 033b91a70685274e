"""Theme phrases: the words of any script in an item's text, its key phrases, and the pinned themes it names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from shared.journey import Stage

PIN = "pin:"  # pinned themes are keyed by the id the map gives them: their identity over time
MAX_BIGRAMS = 6
MAX_UNIGRAMS = 6
MAX_PHRASE_CHARS = 60
TOP = 25  # discovered themes kept per stage and window (pinned themes are always kept)
COVER = 0.8  # a word mostly said as part of a listed two-word phrase is not listed again on its own

_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing done down during each even ever every few for from further get gets
    getting got had has have having he her here hers him his how i if in into is it its itself just let like made
    make me more most much my myself no nor not now of off on once one only or other our ours out over own please
    really same say said she should so some still such than thank thanks that the their theirs them then there
    these they this those through to too two under until up us very via was way we were what when where which while
    who whom why will with would yet you your yours hi hello dear etc ok okay im ive id ill dont cant wont didnt
    doesnt isnt wasnt arent havent hasnt couldnt wouldnt shouldnt i'm i've i'd i'll you're you've it's that's
    there's can't won't don't didn't doesn't isn't wasn't aren't haven't hasn't couldn't wouldn't shouldn't
    """.split()
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_CLAUSE = re.compile(r"[.,;:!?()\[\]{}\"|/\n\r\t\u3001\u3002\uff0c\uff01\uff1f]+|\s[-\u2013\u2014]+\s")

Sums = dict[str, float]


def tokens(text: str) -> list[str]:
    """Lower-case words of any script (letters only: numbers, order ids and punctuation are not words)."""
    norm = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return _WORD.findall(norm)


def _content(word: str) -> bool:
    return len(word) >= 2 and word not in _STOPWORDS


def key_phrases(text: str) -> list[str]:
    """The item's key phrases: two adjacent content words first (they read as a theme: "late delivery"), then
    single content words of three letters or more; each at most once, bounded in number and length."""
    bigrams: list[str] = []
    unigrams: list[str] = []
    for clause in _CLAUSE.split(text):  # two words either side of a comma or full stop are not a phrase
        words = tokens(clause)
        for i, word in enumerate(words):
            if not _content(word):
                continue
            if len(word) >= 3:
                unigrams.append(word)
            if i + 1 < len(words) and _content(words[i + 1]) and words[i + 1] != word:
                bigrams.append(f"{word} {words[i + 1]}")
    fit = [p for p in dict.fromkeys(bigrams) if len(p) <= MAX_PHRASE_CHARS][:MAX_BIGRAMS]
    return fit + [p for p in dict.fromkeys(unigrams) if len(p) <= MAX_PHRASE_CHARS][:MAX_UNIGRAMS]


def _phrase(text: str) -> str:
    return " ".join(tokens(text))


def _within(part: str, whole: str) -> bool:
    """`part` occurs in `whole` on word boundaries (both normalised)."""
    return bool(part) and f" {part} " in f" {whole} "


def pinned_of(text: str, stage: Stage | None) -> list[str]:
    """The keys of the stage's pinned themes whose seed phrases the text contains."""
    if stage is None or not stage.themes:
        return []
    said = _phrase(text)
    return [f"{PIN}{t.id}" for t in stage.themes if any(_within(_phrase(seed), said) for seed in t.phrases)]


def item_themes(text: str | None, stage: Stage | None) -> list[str]:
    """Every theme key of one item: its pinned themes, then its key phrases."""
    if not text:
        return []
    return [*pinned_of(text, stage), *key_phrases(text)]


def merge_phrases(volumes: Mapping[str, float], seeds: Sequence[str] = (), top: int = TOP) -> list[str]:
    """Discovered phrases worth listing, most frequent first: none that overlaps a pinned theme's seed phrase, and
    no single word that is mostly said as part of a listed two-word phrase ("delivery" under "late delivery")."""
    norm_seeds = [_phrase(s) for s in seeds]
    kept = [k for k in volumes if not any(_within(k, s) or _within(s, k) for s in norm_seeds)]
    ordered = sorted(kept, key=lambda k: (-volumes[k], -k.count(" "), k))
    bigrams = [k for k in ordered if " " in k]
    out = []
    for key in ordered:
        if " " not in key:
            covered = sum(volumes[b] for b in bigrams if key in b.split(" "))
            if covered >= COVER * volumes[key]:
                continue
        out.append(key)
    return out[:top]
