"""Ingest as several worker processes (INGEST_WORKERS): each worker enforces its share of every source's rate limit,
and every worker reloads the key cache from the database, so a revoked key stops working in all of them within the
refresh period. The integration tests run `python -m shared.serve ... --workers 2` on the real broker."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from services.cli.brokers import Broker
from services.cli.dev import service_command
from services.ingest.auth import RateLimiter, SourceInfo
from services.ingest.models import Adapter
from services.ingest.settings import IngestSettings, worker_launch
from shared import tally
from shared.models import Channel
from tests.ingest.conftest import ADMIN_TOKEN, Ingest, start_ingest
from tests.support import ROOT, ServiceProcess

WORKERS = 2
REFRESH = 0.5  # INGEST_KEY_REFRESH_SECONDS of start_ingest


def _source(rate: float | None) -> SourceInfo:
    return SourceInfo(name="s", channel=Channel.chat, adapter=Adapter.generic, rate_limit=rate)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _admitted(limiters: list[RateLimiter], clock: FakeClock, source: SourceInfo, seconds: float) -> int:
    """One event every 10 ms to each limiter in turn (as connections spread over workers); events admitted."""
    admitted = 0
    for step in range(int(seconds * 100)):
        clock.now += 0.01
        admitted += limiters[step % len(limiters)].take(source, 1) == 0
    return admitted


@pytest.mark.parametrize("rate", [20.0, None])
def test_workers_together_admit_what_one_process_admits(rate: float | None) -> None:
    source = _source(rate)
    clock = FakeClock()
    alone = _admitted([RateLimiter(default_rate=8, min_burst=1, clock=clock)], clock, source, 10)
    clock = FakeClock()
    shared = [RateLimiter(default_rate=8, min_burst=1, workers=4, clock=clock) for _ in range(4)]
    together = _admitted(shared, clock, source, 10)
    limit = rate or 8
    assert together <= alone <= 2 * limit + limit * 10 + 1  # a burst of two seconds' worth, then the rate
    assert together >= alone - 4  # each worker rounds down at most one token
    assert shared[0].rate_of(source) == limit / 4


def test_the_bucket_still_holds_a_full_batch_per_worker() -> None:
    limiter = RateLimiter(default_rate=10, min_burst=100, workers=4)
    assert limiter.take(_source(None), 100) == 0  # rate/4 = 2.5/s, but one batch of the maximum size fits
    assert limiter.take(_source(None), 1) > 0


def test_unlimited_stays_unlimited_and_workers_must_be_positive() -> None:
    assert RateLimiter(default_rate=0, min_burst=1, workers=3).take(_source(None), 10**6) == 0
    with pytest.raises(ValueError):
        RateLimiter(default_rate=1, min_burst=1, workers=0)


def test_worker_count_and_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INGEST_WORKERS", raising=False)
    unset = IngestSettings()
    assert unset.launch_workers == (os.cpu_count() or 1)
    assert unset.worker_share == 1  # a process started without INGEST_WORKERS (plain uvicorn) is alone
    monkeypatch.setenv("INGEST_WORKERS", "3")
    assert IngestSettings().launch_workers == IngestSettings().worker_share == 3


def test_several_workers_get_a_fresh_metrics_directory_one_does_not_need_it(tmp_path: Path) -> None:
    stale = tmp_path / "ingest-metrics" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"a previous run's counts")
    args, env = worker_launch({"INGEST_WORKERS": "3"}, tmp_path)
    assert args == ["--workers", "3"] and env["INGEST_WORKERS"] == "3"
    assert env["PROMETHEUS_MULTIPROC_DIR"] == str(stale.parent.resolve())
    assert list(stale.parent.iterdir()) == []  # counters start at zero with the processes
    assert worker_launch({"INGEST_WORKERS": "1"}, tmp_path) == ([], {"INGEST_WORKERS": "1"})
    cores = os.cpu_count() or 1
    assert worker_launch({}, tmp_path)[1]["INGEST_WORKERS"] == str(cores)


class WorkersProcess(ServiceProcess):
    """`python -m shared.serve services.ingest.main:app --workers N`, started as `journeyline dev` starts it."""

    def start(self, wait_ready: bool = True, timeout: float = 120.0) -> ServiceProcess:
        launch = {"INGEST_WORKERS": str(WORKERS)}
        cmd, worker_env = service_command("ingest", "127.0.0.1", self.port, launch, self.log_path.parent)
        log = open(self.log_path, "ab")  # noqa: SIM115
        env = {**os.environ, **self.env, **worker_env}
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.wait("/readyz" if wait_ready else "/healthz", timeout)
        return self


def _start_workers(broker: Broker, tmp_path: Path, **env: str) -> Ingest:
    """start_ingest's topics, database and sources, served by WORKERS processes."""
    single = start_ingest(broker.bootstrap_servers, tmp_path, **env)
    single.process.stop()
    workers = WorkersProcess("ingest", single.process.env, tmp_path)
    try:
        workers.start()
        _wait_for_workers(workers)
    except BaseException:
        workers.stop()  # never leave a server (and its workers) behind when the start fails
        raise
    single.process = workers
    return single


def _wait_for_workers(process: ServiceProcess) -> None:
    """Every worker answers: fresh connections land on each of them (the parent hands them out in turn)."""
    assert process.process is not None
    children = Path(f"/proc/{process.process.pid}/task/{process.process.pid}/children").read_text().split()
    workers = [c for c in children if b"--worker-fd" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(workers) == WORKERS
    for _ in range(20):
        assert httpx.get(process.url + "/readyz", timeout=10).status_code == 200


def _fresh_posts(ingest: Ingest, key: str, n: int) -> list[int]:
    """`n` single events, each on its own new connection (so both workers get some)."""
    statuses = []
    for i in range(n):
        with httpx.Client(base_url=ingest.url, timeout=10) as client:
            response = client.post(
                "/v1/events", headers={"X-API-Key": key}, json={"text": f"workers {i}", "external_id": f"w-{i}"}
            )
            statuses.append(response.status_code)
    return statuses


def test_a_revoked_key_stops_working_in_every_worker(broker: Broker, tmp_path: Path) -> None:
    ingest = _start_workers(broker, tmp_path)
    try:
        key = ingest.keys["chat-tool"]
        assert _fresh_posts(ingest, key, 20) == [202] * 20
        # The revoke reaches one worker through its admin API; the other learns it from the database.
        revoked = httpx.post(
            ingest.url + "/v1/sources/chat-tool/revoke", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )
        assert revoked.status_code == 200
        time.sleep(REFRESH * 2 + 0.5)  # the refresh period (and one refresh's own time)
        # 30 fresh connections: the chance that all land on the worker that served the revoke is 2**-29.
        assert _fresh_posts(ingest, key, 30) == [401] * 30
        # A key created through one worker's admin API works in every worker within the refresh period too (a miss
        # reloads early, but at most once per 0.5 s, and the revoked key's misses just used that).
        created = httpx.post(
            ingest.url + "/v1/sources",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={"name": "newcomer", "channel": "chat", "adapter": "generic", "rate_limit": 0},
            timeout=10,
        )
        assert created.status_code == 201
        time.sleep(REFRESH * 2 + 0.5)
        assert _fresh_posts(ingest, created.json()["api_key"], 20) == [202] * 20
    finally:
        ingest.process.stop()


def test_every_scrape_counts_the_events_of_every_worker(broker: Broker, tmp_path: Path) -> None:
    ingest = _start_workers(broker, tmp_path)
    try:
        assert _fresh_posts(ingest, ingest.keys["chat-tool"], 30) == [202] * 30
        time.sleep(2 * tally.INTERVAL)  # each worker hands its counts to the shared files within the interval
        # Each scrape on a fresh connection reaches either worker; each must see all 30, not the ~15 it served.
        for _ in range(10):
            with httpx.Client(base_url=ingest.url, timeout=10) as client:
                text = client.get("/metrics").text
            accepted = [
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith("journeyline_ingest_events_total{")
                and 'source="chat-tool"' in line
                and 'outcome="accepted"' in line
            ]
            assert accepted == [30.0]
            assert "\njourneyline_ingest_broker_up 1.0" in text  # the latest probe of any worker, no pid label
            assert 'journeyline_ingest_request_duration_seconds_count{route="/v1/events"} 30.0' in text
    finally:
        ingest.process.stop()


def test_workers_together_keep_a_source_to_its_rate(broker: Broker, tmp_path: Path) -> None:
    # `limited` may send 5 events/s. With 2-event batches as the largest request, a lone process's bucket holds
    # 2 x 5 = 10 events; each of two workers enforces 2.5/s with a bucket of 5.
    ingest = _start_workers(broker, tmp_path, INGEST_MAX_BATCH_ITEMS="2")
    try:
        started = time.monotonic()
        statuses = _fresh_posts(ingest, ingest.keys["limited"], 60)
        elapsed = time.monotonic() - started
        accepted = statuses.count(202)
        assert set(statuses) <= {202, 429}
        # Together the same as one process: a burst of 10, then 5/s. Without the share each worker would allow
        # that by itself, twice as much in sum.
        assert accepted <= 10 + 5 * elapsed + 2
        assert accepted >= 10  # both workers' buckets were used
    finally:
        ingest.process.stop()
