"""Receiver URLs: which are refused when set and at every delivery (DNS rebinding), redirects not followed, one
overall deadline per delivery, the receiver's body never read, Slack URLs masked like secrets."""

from __future__ import annotations

import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.accountability import receivers
from services.accountability.delivery import Dispatcher
from services.accountability.ownership import redact_receivers
from services.accountability.receivers import ReceiverPolicy, UnsafeReceiver, check_receiver, pin
from services.accountability.settings import AccountabilitySettings

OPEN = ReceiverPolicy.from_setting("", https_only=False)
PRODUCTION = ReceiverPolicy.from_setting("", https_only=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/",
        "http://100.64.1.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://224.0.0.1/",
        "http://user:pass@hooks.example.com/",
        "ftp://hooks.example.com/",
        "file:///etc/passwd",
        "http:///no-host",
        "http://hooks.example.com:99999/",
    ],
)
def test_internal_or_malformed_receivers_are_refused_when_set(url: str) -> None:
    with pytest.raises(UnsafeReceiver):
        check_receiver(url, OPEN)


def test_https_only_in_production_and_public_addresses_pass() -> None:
    with pytest.raises(UnsafeReceiver, match="https"):
        check_receiver("http://93.184.215.14/hook", PRODUCTION)
    check_receiver("https://93.184.215.14/hook", PRODUCTION)
    check_receiver("http://93.184.215.14/hook", OPEN)


def test_the_allow_list_names_hosts_addresses_or_networks() -> None:
    policy = ReceiverPolicy.from_setting("127.0.0.1, hooks.internal, 10.20.0.0/16", https_only=False)
    check_receiver("http://127.0.0.1:9000/", policy)
    check_receiver("http://10.20.3.4/", policy)
    with pytest.raises(UnsafeReceiver):
        check_receiver("http://10.21.0.1/", policy)
    assert policy.host_allowed("hooks.internal") and not policy.host_allowed("hooks.internal.evil.com")


async def test_a_name_that_rebinds_to_loopback_is_refused_at_send_time(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["93.184.215.14", "127.0.0.1"])

    async def rebinding(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(next(answers))]

    monkeypatch.setattr(receivers, "resolve", rebinding)
    first = await pin("https://hooks.example.com/x", PRODUCTION)  # public when it was set...
    assert first.url == "https://93.184.215.14/x" and first.host_header == "hooks.example.com"
    assert first.server_name == "hooks.example.com"
    with pytest.raises(UnsafeReceiver, match="127.0.0.1"):  # ...loopback when it is called
        await pin("https://hooks.example.com/x", PRODUCTION)


def test_slack_urls_are_masked_like_secrets_in_answers_and_the_audit_log() -> None:
    shown = redact_receivers(
        [
            {"type": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"},
            {"type": "webhook", "url": "https://hooks.example.com/in", "secret": "s3cret"},
        ]
    )
    assert shown[0]["url"] == "https://hooks.slack.com/***"
    assert shown[1] == {"type": "webhook", "url": "https://hooks.example.com/in", "secret": "***"}
    assert "SECRET" not in repr(shown) and "s3cret" not in repr(shown)


class _Server:
    """A loopback receiver that answers in a chosen way: a redirect, a slow trickle, or a huge body."""

    def __init__(self, mode: str) -> None:
        owner = self
        self.hits = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                owner.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{owner.port}/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif mode == "slow":
                    time.sleep(3)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:  # 200 with an endless body
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**10))
                    self.end_headers()
                    try:
                        for _ in range(10_000):
                            self.wfile.write(b"x" * 65536)
                    except OSError:
                        pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _dispatcher(**settings: Any) -> Dispatcher:
    conf = AccountabilitySettings(**{"receiver_allow_hosts": "127.0.0.1", "delivery_timeout_s": 1.0, **settings})
    return Dispatcher(engine=None, producer=None, settings=conf, clock=lambda: None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("mode", "expected"), [("redirect", "HTTP 302"), ("slow", "TimeoutError"), ("huge", None)])
async def test_a_delivery_follows_no_redirect_has_one_deadline_and_reads_no_body(
    mode: str, expected: str | None
) -> None:
    server = _Server(mode)
    dispatcher = _dispatcher()
    try:
        started = time.monotonic()
        try:
            outcome = await dispatcher._post(f"http://127.0.0.1:{server.port}/hook", b"{}", {})
        except TimeoutError:  # the dispatcher records this as the row's failure
            outcome = "TimeoutError"
        took = time.monotonic() - started
    finally:
        await dispatcher.http.aclose()
        server.close()
    if expected is None:
        assert outcome is None  # a 200 is a delivery, whatever body follows: it is not read
    else:
        assert outcome is not None and outcome.startswith(expected), outcome
    assert server.hits == 1  # the redirect was not followed
    assert took < 3.0, f"the delivery took {took:.1f}s against a 1s deadline (the slow receiver answers after 3s)"


async def test_a_delivery_to_a_loopback_receiver_without_the_allow_list_is_refused() -> None:
    dispatcher = _dispatcher(receiver_allow_hosts="")
    try:
        with pytest.raises(UnsafeReceiver):
            await dispatcher._post("http://127.0.0.1:9/hook", b"{}", {})
    finally:
        await dispatcher.http.aclose()
