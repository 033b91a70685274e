"""The accountability service as a real uvicorn process: ready, documented, measured; unsafe tokens refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.cli.embedded import EmbeddedBroker
from shared.settings import KafkaSettings
from tests.support import ServiceProcess

pytestmark = pytest.mark.integration


def _env(broker: EmbeddedBroker, kafka: KafkaSettings, sqlite_url: str, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "JOURNEYLINE_TOPIC_PREFIX": kafka.topics.prefix,
        "DATABASE_URL": sqlite_url,
        "ACCOUNTABILITY_GAUGES_INTERVAL_S": "0.5",
        **extra,
    }


def test_runs_as_a_process_with_ops_routes_and_gauges(
    broker: EmbeddedBroker, kafka: KafkaSettings, sqlite_url: str, tmp_path: Path
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
        ):
            assert series in metrics, series
        stages = httpx.get(service.url + "/v1/stages", headers={"Authorization": "Bearer reader"})
        assert stages.status_code == 200 and len(stages.json()) == 8
    finally:
        service.stop()


def test_production_refuses_placeholder_tokens(
    broker: EmbeddedBroker, kafka: KafkaSettings, sqlite_url: str, tmp_path: Path
) -> None:
    service = ServiceProcess("accountability", _env(broker, kafka, sqlite_url, JOURNEYLINE_ENV="production"), tmp_path)
    with pytest.raises(RuntimeError, match="ACCOUNTABILITY_READ_TOKEN"):
        service.start(timeout=20)
    service.stop()
