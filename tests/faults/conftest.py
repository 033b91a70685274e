"""Fault-test fixtures: a classifier model trained once per session, so a restarted classify is up in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`journeyline classify train` into a directory every classify process of these tests loads from."""
    path = tmp_path_factory.mktemp("classify-models")
    subprocess.run(
        [sys.executable, "-m", "services.cli.main", "classify", "train", "--model-dir", str(path)],
        cwd=ROOT, env={**os.environ, "JOURNEYLINE_LOG_LEVEL": "WARNING"}, check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return path
