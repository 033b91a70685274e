"""The accountability service as a real uvicorn process: ready, documented, measured; unsafe tokens refused."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from services.cli.brokers import Broker
from shared.settings import KafkaSettings
from tests.support import ServiceProcess

pytestmark = pytest.mark.integration


def _env(broker: Broker, kafka: KafkaSettings, sqlite_url: str, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "JOURNEYLINE_TOPIC_PREFIX": kafka.topics.prefix,
        "DATABASE_URL": sqlite_url,
        "ACCOUNTABILITY_GAUGES_INTERVAL_S": "0.5",
        **extra,
    }


def test_runs_as_a_process_with_ops_routes_and_gauges(
    broker: Broker, kafka: KafkaSettings, sqlite_url: str, tmp_path: Path
) -> None:
    service = ServiceProcess(
        "accountability", _env(broker, kafka, sqlite_url, ACCOUNTABILITY_READ_TOKEN="reader"), tmp_path
    ).start()
    try:
        ready = httpx.get(service.url + "/readyz").json()
        assert ready["checks"] == {"broker": "ok", "database": "ok", "consumer": "ok"}
        assert httpx.get(service.url + "/docs").status_code == 200
        assert "/v1/alerts/{alert_id}/ack" in httpx.get(service.url + "/openapi.json").json()["paths"]
        metrics = httpx.get(service.url + "/metrics").text
        for series in (
            'journeyline_stage_volume{stage="pay",window="1h"} 0.0',
            'journeyline_stage_health{stage="leave"} 0.0',
            'journeyline_stage_info{accountable="billing",name="Pay",order="5",stage="pay"} 1.0',
            'journeyline_alerts_total{rule="negative_share",stage="pay",transition="opened"} 0.0',
            'journeyline_moments_of_truth_total{moment="third_contact_30d",stage="get_help"} 0.0',
            # No survey answers yet: "no data", not a score of 0.
            'journeyline_stage_csat_mean{stage="pay",window="24h"} NaN',
            'journeyline_stage_nps{stage="pay",window="24h"} NaN',
        ):
            assert series in metrics, series
        stages = httpx.get(service.url + "/v1/stages", headers={"Authorization": "Bearer reader"})
        assert stages.status_code == 200 and len(stages.json()) == 8
    finally:
        service.stop()


def test_production_refuses_placeholder_tokens(
    broker: Broker, kafka: KafkaSettings, sqlite_url: str, tmp_path: Path
) -> None:
    service = ServiceProcess("accountability", _env(broker, kafka, sqlite_url, JOURNEYLINE_ENV="production"), tmp_path)
    with pytest.raises(RuntimeError, match="ACCOUNTABILITY_READ_TOKEN"):
        service.start(timeout=120)  # it exits at start-up; the bound is only for a loaded machine
    service.stop()


def test_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(
    broker: Broker, kafka: KafkaSettings, sqlite_url: str, tmp_path: Path
) -> None:
    """Every customer contacts three times: after a SIGKILL and restart, each has exactly one moment of truth."""
    import asyncio

    from sqlalchemy import text

    from shared.db import make_engine
    from tests.accountability.factories import classified
    from tests.accountability.harness import produce

    customers = 600
    items = [classified(label="neutral", customer=f"k{c}", kind="contact") for _ in range(3) for c in range(customers)]
    env = _env(broker, kafka, sqlite_url, ACCOUNTABILITY_MAX_BATCH="50")
    engine = make_engine(sqlite_url)

    def counts() -> tuple[int, int]:
        try:
            with engine.connect() as conn:
                stored = conn.execute(text("SELECT count(*) FROM acct_feedback")).scalar_one()
                moments = conn.execute(text("SELECT count(*) FROM acct_moments")).scalar_one()
                return int(stored), int(moments)
        except Exception:  # tables not created yet
            return 0, 0

    service = ServiceProcess("accountability", env, tmp_path).start()
    try:
        asyncio.run(produce(kafka, items))
        deadline = time.monotonic() + 60
        while counts()[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        service.kill()  # mid-stream, no chance to finish or commit
        killed_at = counts()[0]
        service = ServiceProcess("accountability", env, tmp_path).start()
        deadline = time.monotonic() + 90
        while counts() != (len(items), customers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert counts() == (len(items), customers), f"killed after {killed_at} stored"
        print(f"killed after {killed_at} of {len(items)} stored")
        with engine.connect() as conn:
            per_customer = conn.execute(
                text("SELECT max(n) FROM (SELECT count(*) AS n FROM acct_moments GROUP BY customer_id) AS m")
            )
            assert per_customer.scalar_one() == 1
    finally:
        service.stop()
        engine.dispose()
