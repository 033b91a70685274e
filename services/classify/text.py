"""Words of any script, as every back-end reads them: Unicode-aware tokens, accent folding and elision, and the
byte-bounded caches that keep the tokeniser fast on repeated words."""

from __future__ import annotations

import re
import unicodedata
from typing import Generic, TypeVar

V = TypeVar("V")
_WORD = re.compile(r"[^\W_][\w'£$%€]*")
# French and Italian elisions (l'appli, n'est, dell'ordine, qu'il): the article or particle becomes its own token, so
# the word after it matches like any other; English contractions (don't, i'm) are left whole.
_ELISION = re.compile(
    r"^(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|dell|all|dall|nell|sull|coll|un|quest|quell|c)'(?=\w\w)"
)
# Letters that Unicode does not decompose into a base letter and an accent.
_UNDECOMPOSED = str.maketrans({"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ð": "d", "þ": "th", "ı": "i"})


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
        elided = _ELISION.match(token) if "'" in token else None
        if elided:
            found += [elided.group(), token[elided.end() :]]
        else:
            found.append(token)
    accented = tuple(found)
    if text.isascii():  # nothing to fold: one tuple serves both
        return accented, accented
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
