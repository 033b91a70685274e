"""Vendors' webhook signatures, each computed here the way the vendor documents it: a valid one passes, one changed
byte of the body is refused, a stale timestamp is refused, and either of two secrets passes during a rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from services.ingest.signatures import BadSignature, handshake, verify

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
OLD, NEW = "old-secret-123456", "new-secret-654321"
URL = "https://ingest.example.com/v1/hooks/acme?x=1"
BODY = b'{"event":"ticket.comment_added","text":"Still no refund"}'
FORM = urlencode({"MessageSid": "SM123", "Body": "Still no refund", "From": "+447700900123"}).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _hs256(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha256).digest()


def _hs1(secret: str, data: bytes) -> bytes:
    return hmac.new(secret.encode(), data, hashlib.sha1).digest()


def signed(vendor: str, secret: str, body: bytes, *, stamp: str = "2025-03-10T11:59:30Z") -> dict[str, str]:
    """The headers the vendor would send, from its documentation."""
    if vendor == "zendesk":  # base64(HMAC-SHA256(secret, timestamp + body))
        return {
            "x-zendesk-webhook-signature": _b64(_hs256(secret, stamp.encode() + body)),
            "x-zendesk-webhook-signature-timestamp": stamp,
        }
    if vendor == "meta":  # sha256= hex(HMAC-SHA256(app secret, body))
        return {"x-hub-signature-256": "sha256=" + _hs256(secret, body).hex()}
    if vendor == "typeform":  # sha256= base64(HMAC-SHA256(secret, body))
        return {"typeform-signature": "sha256=" + _b64(_hs256(secret, body))}
    if vendor == "intercom":  # sha1= hex(HMAC-SHA1(client secret, body))
        return {"x-hub-signature": "sha1=" + _hs1(secret, body).hex()}
    if vendor == "twilio":  # base64(HMAC-SHA1(auth token, URL + each form key and value, keys sorted))
        pairs = sorted((k, v) for k, v in (p.split("=", 1) for p in body.decode().split("&")))
        from urllib.parse import unquote_plus

        data = URL + "".join(unquote_plus(k) + unquote_plus(v) for k, v in pairs)
        return {"x-twilio-signature": _b64(_hs1(secret, data.encode()))}
    if vendor == "delighted":  # sha256= hex(HMAC-SHA256(API key, body))
        return {"x-delighted-webhook-signature": "sha256=" + _hs256(secret, body).hex()}
    if vendor == "x":  # sha256= base64(HMAC-SHA256(consumer secret, body))
        return {"x-twitter-webhooks-signature": "sha256=" + _b64(_hs256(secret, body))}
    raise AssertionError(vendor)


VENDORS = ["zendesk", "meta", "typeform", "intercom", "twilio", "delighted", "x"]


def _body(vendor: str) -> bytes:
    return FORM if vendor == "twilio" else BODY


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_valid_signature_passes_with_either_active_secret(vendor: str) -> None:
    for secret in (OLD, NEW):
        headers = signed(vendor, secret, _body(vendor))
        verify(vendor, secrets=[OLD, NEW], headers=headers, body=_body(vendor), url=URL, now=NOW)


@pytest.mark.parametrize("vendor", VENDORS)
def test_one_changed_byte_or_another_secret_is_refused(vendor: str) -> None:
    body = _body(vendor)
    headers = signed(vendor, NEW, body)
    tampered = body[:-2] + bytes([body[-2] ^ 1]) + body[-1:]
    with pytest.raises(BadSignature, match="does not match"):
        verify(vendor, secrets=[NEW], headers=headers, body=tampered, url=URL, now=NOW)
    with pytest.raises(BadSignature, match="does not match"):
        verify(vendor, secrets=["someone-elses-secret"], headers=headers, body=body, url=URL, now=NOW)
    with pytest.raises(BadSignature, match="missing"):
        verify(vendor, secrets=[NEW], headers={}, body=body, url=URL, now=NOW)


def test_a_stale_or_future_timestamp_is_refused() -> None:
    for stamp in ("2025-03-10T11:50:00Z", "2025-03-10T12:10:00Z", "yesterday"):
        headers = signed("zendesk", NEW, BODY, stamp=stamp)
        with pytest.raises(BadSignature, match="timestamp"):
            verify("zendesk", secrets=[NEW], headers=headers, body=BODY, url=URL, now=NOW)
    fresh = signed("zendesk", NEW, BODY, stamp=(NOW - timedelta(minutes=4)).isoformat())
    verify("zendesk", secrets=[NEW], headers=fresh, body=BODY, url=URL, now=NOW)


def test_twilio_signs_the_url_too() -> None:
    headers = signed("twilio", NEW, FORM)
    with pytest.raises(BadSignature):
        verify("twilio", secrets=[NEW], headers=headers, body=FORM, url=URL + "&y=2", now=NOW)


def test_handshakes() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt-1", "hub.challenge": "1158201444"}
    assert handshake("meta", secrets=[NEW], verify_token="vt-1", query=query) == "1158201444"
    with pytest.raises(BadSignature):
        handshake("meta", secrets=[NEW], verify_token="other", query=query)
    crc = handshake("x", secrets=[NEW], verify_token=None, query={"crc_token": "abc"})
    assert crc == {"response_token": "sha256=" + _b64(_hs256(NEW, b"abc"))}
