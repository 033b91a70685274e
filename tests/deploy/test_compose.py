"""docker-compose.yml: the production stack is complete, healthy-gated and keeps its secrets out of the file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
APPS = {"ingest": 8001, "classify": 8002, "accountability": 8003}
SECRETS = {
    "POSTGRES_PASSWORD": "not-a-real-password",
    "GRAFANA_ADMIN_PASSWORD": "not-a-real-password",
    "INGEST_ADMIN_TOKEN": "not-a-real-token",
    "INGEST_PSEUDONYM_KEY": "not-a-real-key",
    "ACCOUNTABILITY_READ_TOKEN": "not-a-real-token-r",
    "ACCOUNTABILITY_OPERATOR_TOKEN": "not-a-real-token-o",
    "ACCOUNTABILITY_ADMIN_TOKEN": "not-a-real-token-a",
    "ACCOUNTABILITY_SESSION_SECRET": "not-a-real-session-secret",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _image(service: dict[str, Any]) -> str:
    return str(service.get("image", "")).split(":", 1)[0]


def test_every_part_of_the_stack_is_there(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert _image(services["kafka"]) == "apache/kafka"
    assert _image(services["postgres"]) == "postgres"
    assert _image(services["prometheus"]) == "prom/prometheus"
    assert _image(services["grafana"]) == "grafana/grafana"
    for name in APPS:
        assert services[name]["build"]["context"] == "."
        assert services[name]["build"]["dockerfile"] == "Dockerfile"


def test_kafka_runs_kraft_single_node_and_topics_are_created(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"] and "broker" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith("1@kafka:")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    init = services["kafka-init"]
    script = " ".join(init["command"])
    for topic in ("cx.feedback.received", "cx.feedback.classified", "cx.feedback.dlq", "cx.alerts"):
        assert topic in script
    assert "--if-not-exists" in script
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name == "kafka-init":
            assert service["restart"] == "no"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
    for name, port in APPS.items():
        assert f"127.0.0.1:{port}/readyz" in " ".join(compose["services"][name]["healthcheck"]["test"])


def test_services_start_only_when_what_they_need_is_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, port in APPS.items():
        service = services[name]
        needs = service["depends_on"]
        assert needs["kafka"]["condition"] == "service_healthy"
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["kafka-init"]["condition"] == "service_completed_successfully"
        launcher = ["python", "-m", "shared.serve"] if name == "ingest" else ["uvicorn"]  # ingest: several workers
        assert service["command"][: len(launcher) + 1] == [*launcher, f"services.{name}.main:app"]
        assert service["command"][service["command"].index("--port") + 1] == str(port)
    for app in APPS:
        assert services["prometheus"]["depends_on"][app]["condition"] == "service_healthy"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            assert how["condition"] in {"service_healthy", "service_completed_successfully"}


def test_production_settings_and_secrets_from_the_environment(compose: dict[str, Any]) -> None:
    for name in APPS:
        env = compose["services"][name]["environment"]
        assert env["JOURNEYLINE_ENV"] == "production"
        assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
        assert env["KAFKA_ENGINE"] == "kafka"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert compose["services"]["ingest"]["environment"]["INGEST_ADMIN_TOKEN"].startswith("${INGEST_ADMIN_TOKEN:?")
    for role in ("READ", "OPERATOR", "ADMIN"):
        name = f"ACCOUNTABILITY_{role}_TOKEN"
        assert compose["services"]["accountability"]["environment"][name].startswith("${" + name + ":?")
    grafana_env = compose["services"]["grafana"]["environment"]
    assert grafana_env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")


def test_state_that_must_survive_a_restart_is_on_volumes(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], compose["volumes"]
    wanted = {
        "kafka": "/var/lib/kafka/data",
        "postgres": "/var/lib/postgresql/data",
        "prometheus": "/prometheus",
        "grafana": "/var/lib/grafana",
        "classify": "/var/lib/journeyline/models",
    }
    for name, path in wanted.items():
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services[name]["volumes"]}
        assert path in mounts, f"{name} does not persist {path}"
        assert mounts[path] in volumes
    assert services["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert services["classify"]["environment"]["CLASSIFY_MODEL_DIR"] == "/var/lib/journeyline/models"


def test_monitoring_is_provisioned_from_deploy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for service, needed in (
        ("prometheus", ["./deploy/prometheus"]),
        ("grafana", ["./deploy/grafana/provisioning", "./deploy/grafana/dashboards"]),
    ):
        sources = [m.split(":")[0] for m in services[service]["volumes"]]
        for path in needed:
            assert path in sources
            assert (ROOT / path).is_dir()
    assert (ROOT / "deploy/prometheus/prometheus.yml").is_file()


def test_the_dockerfile_builds_the_services_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "pip install '.[postgres]'" in text
    assert "\nUSER " in text


def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install -y docker-compose)")
    env = {**os.environ, **SECRETS}
    done = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    env.pop("POSTGRES_PASSWORD")
    refused = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr


def test_compose_runs_the_kafka_the_tests_run_with_the_same_settings(compose: dict[str, Any]) -> None:
    from services.cli.apache_kafka import KAFKA_VERSION
    from shared.settings import KafkaSettings

    services = compose["services"]
    for name in ("kafka", "kafka-init"):
        assert services[name]["image"] == f"apache/kafka:{KAFKA_VERSION}", name
    assert str(KafkaSettings().partitions) in services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"]
    assert services["classify"]["environment"]["CLASSIFY_EXACTLY_ONCE"].endswith("true}")
    assert services["kafka"]["environment"]["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == 1


def test_prometheus_runs_without_its_lifecycle_api(compose: dict[str, Any]) -> None:
    """`--web.enable-lifecycle` lets anyone who reaches Prometheus shut it down or reload it."""
    command = " ".join(compose["services"]["prometheus"]["command"])
    assert "--web.enable-lifecycle" not in command


def test_ingest_runs_its_workers_with_shared_limits_and_metrics(compose: dict[str, Any]) -> None:
    ingest = compose["services"]["ingest"]
    command, env = ingest["command"], ingest["environment"]
    assert command[:4] == ["python", "-m", "shared.serve", "services.ingest.main:app"]  # connections shared evenly
    assert command[command.index("--workers") + 1] == env["INGEST_WORKERS"] == "${INGEST_WORKERS:-2}"
    assert env["PROMETHEUS_MULTIPROC_DIR"] in ingest["tmpfs"]  # empty at each start: counters begin at zero
