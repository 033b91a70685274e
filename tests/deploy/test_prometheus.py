"""The dashboards against the real thing: Debian's Prometheus scrapes the embedded stack fed by `journeyline demo`,
and every PromQL expression of every dashboard must return at least one series.

Needs /usr/bin/prometheus and /usr/bin/promtool (Debian package `prometheus`); without them the test is skipped
locally and fails in CI (CI=true).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.cli.brokers import Broker
from services.cli.embedded import free_port
from tests.deploy import promql
from tests.support import ENGINE, ServiceProcess

ROOT = promql.ROOT
SERVICES = ("ingest", "classify", "accountability")
ADMIN_TOKEN = "deploy-test-admin-token"
OPERATOR_TOKEN = "deploy-test-operator-token"


def _tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        message = f"{name} is not installed (Debian: apt-get install -y prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must have it")
        pytest.skip(message)
    return found


def _run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on its own loop (fixtures here are synchronous)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def test_promtool_accepts_the_production_config() -> None:
    promtool = _tool("promtool")
    done = subprocess.run(
        [promtool, "check", "config", str(ROOT / "deploy/prometheus/prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules found" in done.stdout + done.stderr


def test_pipeline_alert_rules_fire_as_intended() -> None:
    promtool = _tool("promtool")
    done = subprocess.run(
        [promtool, "test", "rules", str(ROOT / "deploy/prometheus/rules_test.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@dataclass
class Stack:
    services: dict[str, ServiceProcess]
    prometheus_url: str
    demo_output: str
    log_dir: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.prometheus_url}/api/v1/query", params={"query": expr}, timeout=10.0)
        body = resp.json()
        if resp.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"Prometheus refused {expr!r}: {body.get('error', resp.text[:300])}")
        result = body["data"]["result"]
        assert isinstance(result, list)
        return result

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{svc.log_tail(25)}" for name, svc in self.services.items())


async def _poison(bootstrap: str, topic: str) -> None:
    """A record that is not a CloudEvent: classify must park it on the DLQ (so the DLQ panels have a series)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"\xff not json, no ce_ headers", key=b"poison")
    finally:
        await producer.stop()


def _prometheus_config(path: Path, services: dict[str, ServiceProcess]) -> None:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "rule_files": [str(ROOT / "deploy/prometheus/rules.yml")],
        "scrape_configs": [
            {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{svc.port}"]}]}
            for name, svc in services.items()
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _wait(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout}s")


@pytest.fixture(scope="module")
def stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus, promtool = _tool("prometheus"), _tool("promtool")
    missing = [name for name in SERVICES if not (ROOT / "services" / name / "main.py").exists()]
    if missing:
        pytest.skip(f"services not built yet: {', '.join(missing)}")
    tmp = tmp_path_factory.mktemp("deploy-stack")
    prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "JOURNEYLINE_TOPIC_PREFIX": prefix,
        "JOURNEYLINE_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp / 'journeyline.db'}",
        "INGEST_ADMIN_TOKEN": ADMIN_TOKEN,
        "ACCOUNTABILITY_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "ACCOUNTABILITY_GAUGES_INTERVAL_S": "1",
        "ACCOUNTABILITY_EVALUATE_INTERVAL_S": "1",
    }
    from shared.kafka import ensure_topics
    from shared.settings import KafkaSettings, Topics

    kafka = KafkaSettings(engine=ENGINE, bootstrap_servers=broker.bootstrap_servers, topics=Topics(prefix=prefix))
    _run_async(ensure_topics(kafka))
    services: dict[str, ServiceProcess] = {}
    prom: subprocess.Popen[bytes] | None = None
    try:
        services = {name: ServiceProcess(name, env, tmp) for name in SERVICES}
        # Started together: classify may train its first model for a minute on a busy machine.
        with concurrent.futures.ThreadPoolExecutor(len(services)) as pool:
            for started in [pool.submit(svc.start, timeout=180) for svc in services.values()]:
                started.result()
        config = tmp / "prometheus.yml"
        _prometheus_config(config, services)
        checked = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        port = free_port()
        prom_log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115
        prom = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=prom_log,
            stderr=subprocess.STDOUT,
        )
        prometheus_url = f"http://127.0.0.1:{port}"
        _wait(f"{prometheus_url}/-/ready", 30, prom)
        demo = subprocess.run(
            [
                sys.executable, "-m", "services.cli.main", "demo",
                "--url", services["ingest"].url, "--admin-token", ADMIN_TOKEN,
                "--accountability-url", services["accountability"].url, "--operator-token", OPERATOR_TOKEN,
                "--rate", "40", "--duration", "25", "--ack-after", "2", "--seed", "7", "--quiet",
            ],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=150,
        )  # fmt: skip
        assert demo.returncode == 0, f"demo failed:\n{demo.stdout}\n{demo.stderr}"
        _run_async(_poison(broker.bootstrap_servers, Topics(prefix=prefix).received))
        yield Stack(services, prometheus_url, demo.stdout, tmp)
    finally:
        if prom is not None:
            prom.send_signal(signal.SIGTERM)
            try:
                prom.wait(15)
            except subprocess.TimeoutExpired:
                prom.kill()
        for svc in services.values():
            svc.stop()


def _every_query() -> list[promql.Query]:
    return [q for path in promql.dashboards() for q in promql.queries(path)]


@pytest.mark.integration
def test_every_dashboard_query_returns_series(stack: Stack) -> None:
    """Polls for up to a minute (scrapes and scorecard gauges lag a little), then names every empty query."""
    empty: dict[str, str] = {}
    deadline = time.monotonic() + 60
    todo = _every_query()
    assert len(todo) >= 50
    while todo:
        empty = {}
        for query in todo:
            expr = promql.runnable(query.expr)
            if not stack.query(expr):
                empty[query.where()] = expr
        todo = [q for q in todo if q.where() in empty]
        if not todo or time.monotonic() > deadline:
            break
        time.sleep(3)
    report = "\n".join(f"  {where}: {expr}" for where, expr in empty.items())
    assert not empty, f"{len(empty)} dashboard queries returned no series:\n{report}\n{stack.logs()}"


@pytest.mark.integration
def test_demo_traffic_is_what_the_dashboards_promise(stack: Stack) -> None:
    """Several sources, deliberate rejections, and the bad stage opened an alert."""
    sources = stack.query('sum by (source) (journeyline_ingest_events_total{outcome="accepted"}) > 0')
    assert len(sources) >= 5, sources
    assert stack.query('sum(journeyline_ingest_events_total{outcome="rejected"}) > 0'), "no deliberate rejections"
    deadline = time.monotonic() + 30
    while not stack.query('sum(journeyline_alerts_total{stage="pay", transition="opened"}) > 0'):
        assert time.monotonic() < deadline, f"no alert opened on the bad stage\n{stack.demo_output}\n{stack.logs()}"
        time.sleep(2)


@pytest.mark.integration
def test_call_timings_reach_the_contact_centre_gauges(stack: Stack) -> None:
    """The demo's calls carry wait, handle and hold times and transfers: those panels show numbers, not NaN."""
    metrics = (
        "journeyline_stage_contacts",
        "journeyline_stage_wait_mean_seconds",
        "journeyline_stage_handle_mean_seconds",
        "journeyline_stage_hold_mean_seconds",
        "journeyline_stage_transfers_per_contact",
    )
    deadline = time.monotonic() + 30
    missing = list(metrics)
    while missing:
        missing = [m for m in missing if not stack.query(f'max({m}{{stage="get_help", window="1h"}}) > 0')]
        if missing:
            assert time.monotonic() < deadline, f"no contact-centre figures for get_help: {missing}\n{stack.logs()}"
            time.sleep(2)


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
def test_promtool_accepts_each_services_metrics(stack: Stack, service: str) -> None:
    promtool = _tool("promtool")
    exposition = httpx.get(f"{stack.services[service].url}/metrics", timeout=10.0).text
    assert "journeyline_" in exposition
    done = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"promtool check metrics on {service}:\n{done.stdout}{done.stderr}"
