"""Hostile input against ingest and the accountability API, both running as real processes.

Every case must get its expected 4xx as application/problem+json (never a 5xx, never a stack trace), and both
services must still be alive and ready afterwards."""

from __future__ import annotations

import contextlib
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from services.cli.brokers import Broker
from tests.conftest import fresh_postgres_database
from tests.faults.stack import READ_TOKEN, Stack, stack_env
from tests.hostile.corpus import CASES, Case

pytestmark = pytest.mark.integration

OPERATOR_TOKEN = "change-me-operator"  # noqa: S105 - the development default
ADMIN_TOKEN = "change-me-admin"  # noqa: S105 - the development default
LEAKS = ("Traceback", 'File "/', "Error:", "site-packages", "sqlalchemy", "psycopg", "aiokafka")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def send(port: int, case: Case, values: dict[str, str]) -> Reply:
    """Send the case byte for byte and read the whole answer (Connection: close)."""
    lines = [f"{case.method} {case.path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for name, value in case.headers:
        for placeholder, real in values.items():
            value = value.replace(placeholder, real)
        lines.append(f"{name}: {value}")
    if case.content_length is not None:
        lines.append(f"Content-Length: {case.content_length}")
    elif case.body or case.method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(case.body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        try:
            sock.sendall(head + case.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413) and close before reading a body it refuses
        raw = bytearray()
        try:
            while chunk := sock.recv(65536):
                raw += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return _parse(bytes(raw))


def _parse(raw: bytes) -> Reply:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Reply(int(status_line.split()[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return bytes(out)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def services(
    request: pytest.FixtureRequest, broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Ingest and accountability as processes; accountability on SQLite, then on PostgreSQL (whose limits on
    lengths and time zones differ: a value SQLite keeps can be a 500 on PostgreSQL if it is not validated)."""
    tmp = tmp_path_factory.mktemp("hostile")
    with contextlib.ExitStack() as cleanup:
        database = f"sqlite:///{tmp / 'hostile.db'}"
        if request.param == "postgres":
            database = cleanup.enter_context(fresh_postgres_database("jl_hostile")) or ""
            if not database:
                pytest.skip("PostgreSQL not reachable")
        env = stack_env(broker.bootstrap_servers, f"h{uuid.uuid4().hex[:10]}.", database)
        stack = Stack(
            env,
            tmp,
            names=("ingest", "accountability"),
            overrides={"ingest": {"DATABASE_URL": f"sqlite:///{tmp / 'ingest.db'}"}},
        )
        cleanup.callback(stack.stop)
        yield stack.start()


def _values(stack: Stack) -> dict[str, str]:
    return {"{KEY}": stack.key, "{READ}": READ_TOKEN, "{OPERATOR}": OPERATOR_TOKEN, "{ADMIN}": ADMIN_TOKEN}


def test_the_corpus_is_big_enough_and_names_are_unique() -> None:
    names = [(case.target, case.name) for case in CASES]
    assert len(set(names)) == len(names)
    assert sum(case.target == "ingest" for case in CASES) >= 50
    assert sum(case.target == "accountability" for case in CASES) >= 50


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=c.xfail)) if c.xfail else c for c in CASES],
    ids=[f"{c.target}:{c.name}" for c in CASES],
)
def test_hostile_request_gets_a_clean_4xx(services: Stack, case: Case) -> None:
    reply = send(services[case.target].port, case, _values(services))
    text = reply.body.decode("utf-8", "replace")
    assert reply.status < 500, f"{reply.status}: {text[:500]}"
    if case.expect:
        assert reply.status in case.expect, f"expected {case.expect}, got {reply.status}: {text[:500]}"
    else:
        assert 400 <= reply.status < 500, f"{reply.status}: {text[:500]}"
    for leak in LEAKS:
        assert leak not in text, f"the answer leaks {leak!r}: {text[:500]}"
    if case.problem_json:
        assert reply.headers.get("content-type", "").startswith("application/problem+json"), reply.headers
        problem = json.loads(reply.body)
        assert problem["status"] == reply.status and problem["title"] and problem["detail"], problem
        assert len(reply.body) < 64 * 1024, "a problem must not echo a huge input back"


def test_replayed_batches_get_the_same_answer_and_no_new_events(services: Stack) -> None:
    """A replay is not an attack: the same batch gives the same ids (accepted once), a bad one the same 4xx."""
    url, headers = services["ingest"].url + "/v1/events", {"X-API-Key": services.key}
    good = [{"external_id": f"replay-{i}", "text": "Refund still missing"} for i in range(5)]
    mixed = [*good[:2], {"external_id": "replay-bad", "text": 7}]
    bad = [{"text": 1}, {"scores": {"csat": 0}}]
    first = [httpx.post(url, headers=headers, json=body, timeout=10) for body in (good, mixed, bad)]
    for _ in range(3):
        again = [httpx.post(url, headers=headers, json=body, timeout=10) for body in (good, mixed, bad)]
        assert [r.status_code for r in again] == [202, 207, 422]
        assert [r.json() for r in again] == [r.json() for r in first]
    assert first[2].headers["content-type"].startswith("application/problem+json")


def test_both_services_are_healthy_and_working_after_the_corpus(services: Stack) -> None:
    for name in ("ingest", "accountability"):
        service = services[name]
        assert service.process is not None and service.process.poll() is None, f"{name} died"
        assert httpx.get(service.url + "/healthz", timeout=5).status_code == 200
        assert httpx.get(service.url + "/readyz", timeout=5).status_code == 200, service.log_tail()
    reply = httpx.post(
        services["ingest"].url + "/v1/events",
        headers={"X-API-Key": services.key},
        json={"external_id": "after-hostile", "text": "Still works"},
        timeout=10,
    )
    assert reply.status_code == 202, reply.text
    stages = httpx.get(services["accountability"].url + "/v1/stages", headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert stages.status_code == 200


def test_logs_hold_no_unhandled_errors(services: Stack) -> None:
    for name in ("ingest", "accountability"):
        log = services[name].log_path.read_text(errors="replace")
        assert "unhandled error" not in log and "Traceback" not in log, services[name].log_tail(60)
