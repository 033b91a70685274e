"""Helpers every adapter uses: safe field access, time parsing, pseudonyms, metadata strings."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any

# What a vendor sent, decoded from JSON or a form: any shape until an adapter has checked it. Adapters are the edge
# where untyped input becomes a typed event, so this is the one place `Any` is the honest type; every use below is
# `Json`, and what they return is checked by `intake` against the canonical model.
Json = Any
Canonical = dict[str, Json]  # the canonical event's fields, before `intake` validates them into `CanonicalEvent`
_SALESFORCE_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


class AdapterError(ValueError):
    """A payload the adapter cannot turn into a canonical event; `reason` is a bounded code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def dig(data: Json, *path: str | int) -> Json:
    """`data[a][b]...` or None when any step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
            data = data[step]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(step)
    return data


def require_object(payload: Json, what: str) -> dict[str, Json]:
    if not isinstance(payload, dict):
        raise AdapterError("unsupported_payload", f"a {what} must be a JSON object, got {type(payload).__name__}")
    return payload


def text_or_none(value: Json) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = str(value).strip()
        return text or None
    raise AdapterError("invalid_field", f"expected a string, got {type(value).__name__}")


def join_text(*parts: Json, sep: str = "\n\n") -> str | None:
    texts = [t for t in (text_or_none(p) for p in parts) if t]
    return sep.join(texts) or None


def parse_time(value: Json, field: str) -> datetime | None:
    """ISO-8601 (Z, +hh:mm, +hhmm, or a space instead of T), epoch seconds, or {seconds, nanos}; UTC."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, dict):
            seconds = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str):
            raw = value.strip()
            if re.fullmatch(r"\d+(\.\d+)?", raw):
                return datetime.fromtimestamp(float(raw), UTC)
            raw = raw.replace("Z", "+00:00").replace("z", "+00:00")
            raw = _SALESFORCE_OFFSET.sub(r"\1:\2", raw) if "T" in raw or " " in raw else raw
            stamp = datetime.fromisoformat(raw)
            return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError) as exc:
        raise AdapterError("invalid_timestamp", f"{field}: {value!r} is not a valid time") from exc
    raise AdapterError("invalid_timestamp", f"{field}: expected a time, got {type(value).__name__}")


# The key of customer pseudonyms (`INGEST_PSEUDONYM_KEY`, set once at start-up by `set_pseudonym_key`). A phone
# number has so few possible values that a plain hash of it can be reversed by trying them all; a keyed one cannot
# without the key. This development key is refused in production.
DEVELOPMENT_PSEUDONYM_KEY = "change-me-pseudonym-key"  # noqa: S105 - refused outside development
_pseudonym_key = DEVELOPMENT_PSEUDONYM_KEY.encode()


def set_pseudonym_key(key: str) -> None:
    global _pseudonym_key
    _pseudonym_key = key.encode()


def pseudonym(value: Json) -> str | None:
    """A stable pseudonymous id for a phone number or e-mail address: HMAC-SHA256 with the service's key (never
    the address itself, nor a plain hash that could be reversed by hashing every phone number)."""
    text = text_or_none(value)
    if text is None:
        return None
    normal = re.sub(r"[\s()-]", "", text.lower().removeprefix("tel:"))
    return "p:" + hmac.new(_pseudonym_key, normal.encode(), hashlib.sha256).hexdigest()[:24]


def meta(**fields: Json) -> dict[str, str]:
    """Metadata as a string map: None dropped, lists comma-joined, numbers as text."""
    out: dict[str, str] = {}
    for name, value in fields.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = ",".join(str(v) for v in value)
        elif isinstance(value, float) and value.is_integer():
            out[name] = str(int(value))
        else:
            out[name] = str(value)
    return out


def int_score(value: Json) -> int | None:
    """A score sent as 4, 4.0 or "4"; out-of-range values are left for validation to reject."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AdapterError("invalid_field", "a score must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise AdapterError("invalid_field", f"score {value!r} is not a number") from exc
    if not number.is_integer():
        raise AdapterError("score_out_of_range", f"score {value!r} is not a whole number")
    return int(number)


def scores(**values: Json) -> dict[str, int]:
    return {name: score for name, value in values.items() if (score := int_score(value)) is not None}


def strip_html(value: Json) -> str | None:
    """The text of an HTML fragment: tags become spaces, runs of white space one space. Linear in the input: a
    `<` with no `>` after it is text (a regex `<[^>]+>` rescans the rest of the input from every such `<`)."""
    text = text_or_none(value)
    if text is None:
        return None
    parts: list[str] = []
    at = 0
    while (start := text.find("<", at)) != -1:
        end = text.find(">", start + 1)
        if end == -1:
            break
        parts += (text[at:start], " ")
        at = end + 1
    parts.append(text[at:])
    return " ".join("".join(parts).split()) or None


def check_fields(payload: dict[str, Json], allowed: frozenset[str], what: str) -> None:
    """Journeyline's own shapes are strict: an unknown field is an error, not silently dropped."""
    unknown = sorted(set(payload) - allowed)
    if unknown:
        raise AdapterError("unknown_field", f"{what}: unknown field(s) {', '.join(unknown[:5])}")


def tagged(prefix: str, value: Json) -> str | None:
    """`prefix:value`, or None when the value is missing (so no id reads "x:None")."""
    text = text_or_none(value)
    return f"{prefix}:{text}" if text else None
