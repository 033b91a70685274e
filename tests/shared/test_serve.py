"""`python -m shared.serve`: the parent accepts and hands connections to its workers in turn, replaces a worker
that dies, gives up on one that cannot start, and stops gracefully. Real processes, real sockets."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.cli.embedded import free_port
from shared.serve import _without

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.shared.serve_app:app"


def _serve(port: int, workers: int, app: str = APP) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "shared.serve", app, "--port", str(port), "--workers", str(workers)]
    cmd += ["--no-access-log", "--log-level", "warning"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = _serve(port, 2)
    url = f"http://127.0.0.1:{port}"
    try:
        _answered(url)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for pid in _workers(proc.pid):
            os.kill(pid, signal.SIGKILL)


def _answered(url: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=5).text
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _workers(parent: int) -> list[int]:
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(c) for c in children]


def _pids_of(clients: list[httpx.Client]) -> collections.Counter[str]:
    return collections.Counter(client.get("/").text for client in clients)


@pytest.mark.parametrize("workers", [2, 3])
def test_keep_alive_connections_are_shared_evenly(workers: int) -> None:
    """32 (or 30) clients connect at once, as a load generator or a pool of webhook senders does: each worker
    gets exactly its share, and each connection stays with its worker."""
    port = free_port()
    proc = _serve(port, workers)
    try:
        _answered(f"http://127.0.0.1:{port}")
        count = 32 if workers == 2 else 30
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(count)]
        threads = [threading.Thread(target=client.get, args=("/",)) for client in clients]  # connect together
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        first = _pids_of(clients)
        assert len(first) == workers and set(first.values()) == {count // workers}
        assert _pids_of(clients) == first  # keep-alive: the same worker answers each connection again
        for client in clients:
            client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_worker_that_dies_is_replaced(server: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = server
    before = _workers(proc.pid)
    assert len(before) == 2
    os.kill(before[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (now := _workers(proc.pid)) and (before[0] in now or len(now) < 2):
        assert time.monotonic() < deadline, now
        time.sleep(0.1)
    replacement = (set(_workers(proc.pid)) - set(before)).pop()
    answers = {httpx.get(url, timeout=10).text for _ in range(20)}  # a fresh connection each: the workers in turn
    while str(replacement) not in answers:  # until the replacement has finished starting
        assert time.monotonic() < deadline, answers
        answers |= {httpx.get(url, timeout=10).text for _ in range(4)}
    assert str(before[0]) not in answers and proc.poll() is None


def test_sigterm_lets_a_request_in_progress_finish(server: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = server
    workers = _workers(proc.pid)
    answer: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answer.append(httpx.get(url + "/slow", timeout=10)))
    slow.start()
    time.sleep(0.3)  # the request is in a worker
    proc.send_signal(signal.SIGTERM)
    slow.join()
    assert answer[0].status_code == 200 and int(answer[0].text) in workers
    assert proc.wait(30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


def test_clients_that_connect_before_the_workers_are_ready_wait_and_are_served() -> None:
    """The port is bound before the workers start; a connection waits in the backlog until one can take it."""
    port = free_port()
    proc = _serve(port, 2)
    try:
        deadline = time.monotonic() + 10
        while True:  # the first moment the port accepts: the workers are still importing the app
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=30)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        assert response.status_code == 200 and int(response.text) in _workers(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_a_worker_that_cannot_start_stops_everything_instead_of_restarting_forever() -> None:
    proc = _serve(free_port(), 2, app="tests.shared.no_such_module:app")
    try:
        assert proc.wait(60) == 3  # uvicorn's start-up failure code
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stdout is not None
    assert b"could not start" in proc.stdout.read()


def test_workers_get_the_options_but_not_the_address() -> None:
    argv = ["app:app", "--host", "0.0.0.0", "--port=8001", "--workers", "2", "--no-access-log", "--log-level", "info"]
    assert _without(argv, "--workers", "--host", "--port") == ["app:app", "--no-access-log", "--log-level", "info"]
