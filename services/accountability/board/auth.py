"""Board sign-in: a token (read / operator / admin) becomes a signed session cookie with its own CSRF token.

The cookie holds the role, the person's name, a CSRF token, an expiry and a fingerprint of the token used, all
signed with HMAC-SHA256 under ACCOUNTABILITY_SESSION_SECRET. A session ends when it expires, when the secret
changes, or when the token of its role is rotated (the fingerprint no longer matches).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import orjson

from services.accountability.deps import Role
from services.accountability.settings import AccountabilitySettings

COOKIE = "jl_board"
PRE_COOKIE = "jl_board_pre"  # the sign-in form's own CSRF secret, before there is a session


@dataclass(frozen=True)
class Viewer:
    """The signed-in person."""

    role: Role
    name: str
    csrf: str
    expires: int

    @property
    def actor(self) -> str:
        """As the API names an actor: `ann (operator)`, or the role alone."""
        return f"{self.name} ({self.role.name})" if self.name else self.role.name

    def can(self, role: Role) -> bool:
        return self.role >= role


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(settings: AccountabilitySettings, purpose: str, data: str) -> str:
    return _b64(hmac.new(settings.session_secret.encode(), f"{purpose}:{data}".encode(), hashlib.sha256).digest())


def _token_of(settings: AccountabilitySettings, role: Role) -> str:
    return {Role.read: settings.read_token, Role.operator: settings.operator_token, Role.admin: settings.admin_token}[
        role
    ]


def fingerprint(settings: AccountabilitySettings, role: Role) -> str:
    return _mac(settings, "token", _token_of(settings, role))[:22]


def role_of(settings: AccountabilitySettings, token: str) -> Role | None:
    """The role a token grants (the strongest that matches), compared in constant time."""
    for role in (Role.admin, Role.operator, Role.read):
        expected = _token_of(settings, role)
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return role
    return None


def issue(settings: AccountabilitySettings, role: Role, name: str, now: float | None = None) -> tuple[str, Viewer]:
    """A new session cookie value for `role` (and the viewer it stands for)."""
    expires = int((now or time.time()) + settings.session_max_age_s)
    viewer = Viewer(role=role, name=name, csrf=secrets.token_urlsafe(24), expires=expires)
    body = _b64(
        orjson.dumps({"r": role.name, "n": name, "c": viewer.csrf, "e": expires, "f": fingerprint(settings, role)})
    )
    return f"{body}.{_mac(settings, 'session', body)}", viewer


def read(settings: AccountabilitySettings, value: str | None, now: float | None = None) -> Viewer | None:
    """The viewer a cookie stands for; None when absent, forged, expired or made with a rotated token."""
    if not value or len(value) > 2000 or "." not in value:
        return None
    body, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac.encode(), _mac(settings, "session", body).encode()):
        return None
    try:
        data = orjson.loads(_unb64(body))
        role = Role[data["r"]]
        name, csrf, expires, made_with = str(data["n"]), str(data["c"]), int(data["e"]), str(data["f"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None
    if expires < (now or time.time()):
        return None
    if not hmac.compare_digest(made_with.encode(), fingerprint(settings, role).encode()):
        return None
    return Viewer(role=role, name=name, csrf=csrf, expires=expires)


def pre_token(settings: AccountabilitySettings, pre_cookie: str) -> str:
    """The sign-in form's CSRF field, bound to the browser's pre-session cookie."""
    return _mac(settings, "signin", pre_cookie)


def check_csrf(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def notice_mac(settings: AccountabilitySettings, notice: str) -> str:
    """Signs the notice an action shows on the page it returns to (so a crafted link cannot show one)."""
    return _mac(settings, "notice", notice)[:22]
