"""Vendors' own webhook signatures, checked on the raw bytes before anything is parsed: a source whose tool signs
its webhooks posts to `/v1/hooks/{source}` without an API key. Each function takes the request's parts and the
source's active secrets (two during a rotation) and raises `BadSignature` with a reason, or returns.

| vendor | header | signed bytes | digest |
|---|---|---|---|
| zendesk | X-Zendesk-Webhook-Signature (+ -Timestamp) | timestamp + body | base64 HMAC-SHA256 |
| meta | X-Hub-Signature-256 | body | `sha256=` hex HMAC-SHA256 |
| typeform | Typeform-Signature | body | `sha256=` base64 HMAC-SHA256 |
| intercom | X-Hub-Signature | body | `sha1=` hex HMAC-SHA1 |
| twilio | X-Twilio-Signature | full URL + sorted form keys and values | base64 HMAC-SHA1 |
| delighted | X-Delighted-Webhook-Signature | body | `sha256=` hex HMAC-SHA256 |
| x | X-Twitter-Webhooks-Signature | body | `sha256=` base64 HMAC-SHA256 |

Meta's subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`) and X's CRC check
(`GET ?crc_token=…`) are answered by `handshake`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

VENDORS = ("zendesk", "meta", "typeform", "intercom", "twilio", "delighted", "x")
MAX_SKEW = timedelta(minutes=5)


class BadSignature(Exception):
    """The request is not what the vendor signed (or is too old); `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mac(secret: str, data: bytes, algorithm: Callable[..., object] = hashlib.sha256) -> bytes:
    return hmac.new(secret.encode(), data, algorithm).digest()  # type: ignore[arg-type]


def _any_matches(given: str, expected: Sequence[str]) -> bool:
    """Constant-time comparison against every active secret's expected value."""
    found = False
    for value in expected:
        found |= hmac.compare_digest(given.encode(), value.encode())
    return found


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if not value:
        raise BadSignature(f"the {name} header is missing")
    return value.strip()


def _fresh(stamp: str, now: datetime) -> None:
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        raise BadSignature("the signature timestamp is not a time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if abs(now - when) > MAX_SKEW:
        raise BadSignature("the signature timestamp is more than 5 minutes away from now")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def verify(
    vendor: str,
    *,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    url: str,
    now: datetime,
) -> None:
    """Raise BadSignature unless `body` carries a valid `vendor` signature under one of `secrets`.
    `headers` are lower-cased names; `url` is the full URL the vendor called (Twilio signs it)."""
    if not secrets:
        raise BadSignature("this source has no webhook secret")
    if vendor == "zendesk":
        given = _header(headers, "X-Zendesk-Webhook-Signature")
        stamp = _header(headers, "X-Zendesk-Webhook-Signature-Timestamp")
        _fresh(stamp, now)
        expected = [_b64(_mac(s, stamp.encode() + body)) for s in secrets]
    elif vendor == "meta":
        given = _header(headers, "X-Hub-Signature-256")
        expected = ["sha256=" + _mac(s, body).hex() for s in secrets]
    elif vendor == "typeform":
        given = _header(headers, "Typeform-Signature")
        expected = ["sha256=" + _b64(_mac(s, body)) for s in secrets]
    elif vendor == "intercom":
        given = _header(headers, "X-Hub-Signature")
        expected = ["sha1=" + _mac(s, body, hashlib.sha1).hex() for s in secrets]
    elif vendor == "twilio":
        given = _header(headers, "X-Twilio-Signature")
        params = sorted(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        signed = (url + "".join(k + v for k, v in params)).encode()
        expected = [_b64(_mac(s, signed, hashlib.sha1)) for s in secrets]
    elif vendor == "delighted":
        given = _header(headers, "X-Delighted-Webhook-Signature")
        expected = ["sha256=" + _mac(s, body).hex() for s in secrets]
    elif vendor == "x":
        given = _header(headers, "X-Twitter-Webhooks-Signature")
        expected = ["sha256=" + _b64(_mac(s, body)) for s in secrets]
    else:
        raise BadSignature(f"unknown vendor {vendor!r}")
    if not _any_matches(given, expected):
        raise BadSignature("the signature does not match the body")


def handshake(vendor: str, *, secrets: Sequence[str], verify_token: str | None, query: Mapping[str, str]) -> object:
    """The answer to a vendor's subscription check: Meta's `hub.challenge` echo, X's CRC response token."""
    if vendor == "meta":
        token = query.get("hub.verify_token", "")
        if query.get("hub.mode") != "subscribe" or not verify_token or not hmac.compare_digest(token, verify_token):
            raise BadSignature("hub.mode must be subscribe and hub.verify_token must match")
        return query.get("hub.challenge", "")
    if vendor == "x":
        crc = query.get("crc_token")
        if not crc or not secrets:
            raise BadSignature("crc_token is missing")
        return {"response_token": "sha256=" + base64.b64encode(_mac(secrets[0], crc.encode())).decode()}
    raise BadSignature(f"{vendor} has no GET handshake")
