"""The OpenAPI documents tell the truth: schemathesis runs every phase it has (examples, coverage, fuzzing,
stateful) with every check against ingest and classify as real processes on the real broker, authenticated, and
finds nothing; and every example in ingest's document is accepted as documented (with the adapter it names)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.contract.conftest import new_source
from tests.ingest.conftest import ADMIN_TOKEN, Ingest
from tests.support import ROOT, ServiceProcess

pytestmark = pytest.mark.integration

CONFIG = ROOT / "tests" / "contract" / "schemathesis.toml"
PHASES = "examples,coverage,fuzzing,stateful"
SEED = "20261203"  # deterministic: the same cases every run
MAX_EXAMPLES = "25"  # per operation and phase; the two runs take about 30 s together


def schemathesis(
    url: str, *headers: str, workdir: Path, hook_source: str = "none", max_examples: str = MAX_EXAMPLES
) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` on the service's own document; the hooks teach it to write NDJSON bodies."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color",
        "run", f"{url}/openapi.json", "--phases", PHASES,
        "--seed", SEED, "--generation-deterministic", "--max-examples", max_examples, "--workers", "1",
        "--continue-on-failure", "--request-timeout", "10",
        *(part for header in headers for part in ("-H", header)),
    ]  # fmt: skip
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks",
        "PYTHONPATH": str(ROOT),
        "CONTRACT_HOOK_SOURCE": hook_source,
    }
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)


def _report(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stdout + done.stderr)[-30_000:]


def test_ingest_answers_only_what_its_document_says(ingest: Ingest, tmp_path: Path) -> None:
    key = new_source(ingest, "schemathesis")  # its own: the stateful phase may rotate or revoke listed sources
    hooked = f"meta-{uuid.uuid4().hex[:8]}"
    made = httpx.post(
        f"{ingest.url}/v1/sources",
        json={"name": hooked, "channel": "social", "adapter": "social", "hook_vendor": "meta",
              "hook_secrets": ["meta-app-secret-0123"], "hook_verify_token": "verify-me"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    done = schemathesis(
        ingest.url, f"X-API-Key: {key}", f"Authorization: Bearer {ADMIN_TOKEN}", workdir=tmp_path, hook_source=hooked
    )
    assert done.returncode == 0, _report(done)
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in done.stdout, _report(done)  # each phase ran (and passed), none was skipped
    assert "Missing test data" not in done.stdout, _report(done)  # the webhook routes got past the 404


def test_classify_answers_only_what_its_document_says(classify: ServiceProcess, tmp_path: Path) -> None:
    done = schemathesis(classify.url, workdir=tmp_path)
    assert done.returncode == 0, _report(done)
    for phase in ("Examples", "Coverage", "Fuzzing"):  # no links between its operations: no stateful phase
        assert f"✅ {phase}" in done.stdout, _report(done)


def _documented_examples(spec: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """(name, media type, adapter, value) of every request example of POST /v1/events."""
    content = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    found = []
    for media, body in content.items():
        for name, example in body.get("examples", {}).items():
            found.append((name, media, example["x-adapter"], example["value"]))
    return found


def test_every_example_in_the_document_is_accepted_with_the_adapter_it_names(ingest: Ingest) -> None:
    key = new_source(ingest, "examples")  # its own: the schemathesis runs may rotate or revoke the fixture's
    spec = httpx.get(ingest.url + "/openapi.json", timeout=10).json()
    examples = _documented_examples(spec)
    assert {media for _, media, _, _ in examples} == {
        "application/json", "application/x-ndjson", "application/x-www-form-urlencoded",
    }  # fmt: skip
    assert len(examples) >= 14
    for name, media, adapter, value in examples:
        if media == "application/json":
            raw = httpx.Request("POST", "/", json=value).content
        elif media == "application/x-www-form-urlencoded":
            raw = urlencode(value).encode()
        else:
            raw = value.encode()
        response = httpx.post(
            f"{ingest.url}/v1/events?adapter={adapter}", content=raw,
            headers={"X-API-Key": key, "Content-Type": media}, timeout=10,
        )  # fmt: skip
        assert response.status_code == 202, (name, response.text)
        assert response.json()["status"] == "accepted", name
