"""Personal data out of free text before it reaches Kafka: e-mail addresses, phone numbers, payment card numbers
(only digit runs that pass the Luhn check) and IBANs (only those whose mod-97 check holds) become `[email]`,
`[phone]`, `[card]` and `[iban]`. Every pattern has bounded repetition, so the work is linear in the text."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{6,20}\d(?!\w)")


@dataclass
class Redacted:
    text: str
    counts: Counter[str] = field(default_factory=Counter)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _phone_like(match: str) -> bool:
    digits = sum(ch.isdigit() for ch in match)
    return 9 <= digits <= 15 and (match.startswith(("+", "0", "(")) or any(ch in match for ch in " ().-"))


# What every one of the card, IBAN and phone patterns needs somewhere (the same digits, any script's, as their \d):
# eight or more characters of digits and separators between two digits, or an IBAN's country and check digits.
# Most feedback with a digit in it has only short numbers ("order 4521", "2 weeks"): one scan instead of three.
_NUMBER_LIKE = re.compile(r"\d[\d ().-]{6,}\d|[A-Z]{2}\d{2}")


def redact(text: str) -> Redacted:
    """The text with personal data replaced, and how many of each kind were found."""
    counts: Counter[str] = Counter()
    has_at, has_number = "@" in text, _NUMBER_LIKE.search(text) is not None
    if not (has_at or has_number):  # every pattern needs one of them; feedback without either is common
        return Redacted(text, counts)

    def swap(kind: str) -> str:
        counts[kind] += 1
        return f"[{kind}]"

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return swap("card") if luhn_ok(digits) else m.group()

    def iban(m: re.Match[str]) -> str:
        return swap("iban") if iban_ok(m.group()) else m.group()

    def phone(m: re.Match[str]) -> str:
        return swap("phone") if _phone_like(m.group()) else m.group()

    out = _EMAIL.sub(lambda m: swap("email"), text) if has_at else text
    if has_number:
        out = _IBAN.sub(iban, out)
        out = _CARD.sub(card, out)
        out = _PHONE.sub(phone, out)
    return Redacted(out, counts)
