"""An integrator's view: a Python client generated from ingest's own OpenAPI document (openapi-python-client, as
published on PyPI) adds a source, posts an event and a batch with it, and gets the answers the document promises,
errors included; the events are read back from the broker topic."""

from __future__ import annotations

import importlib
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from shared.models import stable_event_id
from tests.ingest.conftest import ADMIN_TOKEN, Ingest
from tests.ingest.test_service import consume
from tests.support import ROOT

pytestmark = pytest.mark.integration


def generate_client(url: str, where: Path) -> str:
    """Generate the client package from the running service's document; return the package's name."""
    spec = where / "ingest-openapi.json"
    spec.write_bytes(httpx.get(url + "/openapi.json", timeout=10).content)
    config = where / "generator.yaml"
    # No formatter run (the package is only imported). The generator writes a broken dispatch (`isinstance(body,
    # GenericEvent | list[GenericEvent])`, a TypeError) for an operation with two request media types when one of
    # them is a union holding an array, so this integrator takes JSON only: the form is left to the generator's
    # "unsupported" (NDJSON already is).
    config.write_text(
        "post_hooks: []\ncontent_type_overrides:\n  application/x-www-form-urlencoded: application/x-unsupported\n"
    )
    package = f"ingest_client_{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec), "--meta", "none",
         "--output-path", str(where / package), "--config", str(config)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return package


@pytest.fixture
def client_package(ingest: Ingest, tmp_path: Path) -> Any:
    package = generate_client(ingest.url, tmp_path)
    sys.path.insert(0, str(tmp_path))
    try:
        yield lambda name: importlib.import_module(f"{package}.{name}") if name else importlib.import_module(package)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


async def test_a_generated_client_adds_a_source_posts_events_and_they_are_on_the_topic(
    ingest: Ingest, client_package: Any
) -> None:
    root: ModuleType = client_package("")
    models: ModuleType = client_package("models")
    events: ModuleType = client_package("api.events.post_events_v1_events_post")
    create_source: ModuleType = client_package("api.sources_admin.create_source_v1_sources_post")

    admin = root.AuthenticatedClient(base_url=ingest.url, token=ADMIN_TOKEN)
    name = f"generated-{uuid.uuid4().hex[:6]}"
    created = create_source.sync_detailed(
        client=admin, body=models.SourceCreate(name=name, channel=models.Channel.CHAT, rate_limit=0.0)
    )
    assert created.status_code == 201, created.content
    source = created.parsed
    assert isinstance(source, models.SourceWithKey) and source.name == name and source.active

    # The key goes in X-API-Key, as the document's APIKeyHeader scheme says.
    client = root.AuthenticatedClient(
        base_url=ingest.url, token=source.api_key, prefix="", auth_header_name="X-API-Key"
    )
    one = events.sync_detailed(
        client=client,
        body=models.GenericEvent(
            external_id="GEN-1", customer_id="CUS-42", text="The generated client says hello.",
            scores=models.Scores(csat=4), metadata=models.GenericEventMetadata.from_dict({"tool": "openapi"}),
        ),
    )  # fmt: skip
    assert one.status_code == 202, one.content
    assert isinstance(one.parsed, models.Accepted) and one.parsed.id == stable_event_id(name, "GEN-1")

    batch = events.sync_detailed(
        client=client, body=[models.GenericEvent(external_id=f"GEN-B{i}", text=f"batch item {i}") for i in range(3)]
    )
    assert batch.status_code == 202, batch.content
    assert isinstance(batch.parsed, models.BatchResult) and batch.parsed.accepted == 3
    batch_ids = {item.id for item in batch.parsed.results}

    # An error is the document's Problem, parsed.
    refused = events.sync_detailed(
        client=root.AuthenticatedClient(base_url=ingest.url, token="jl_wrong", prefix="", auth_header_name="X-API-Key"),
        body=models.GenericEvent(text="nobody"),
    )
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    assert isinstance(refused.parsed, models.Problem) and refused.parsed.status == 401

    wanted = {one.parsed.id, *batch_ids}
    found = await consume(ingest.kafka, wanted)
    assert wanted <= set(found)
    key, event = found[one.parsed.id]
    assert key == b"CUS-42" and event.source == f"/sources/{name}"
    assert event.data["text"] == "The generated client says hello." and event.data["scores"]["csat"] == 4
    assert event.data["metadata"] == {"tool": "openapi"} and event.data["channel"] == "chat"
    assert {found[i][1].data["text"] for i in batch_ids} == {f"batch item {i}" for i in range(3)}
