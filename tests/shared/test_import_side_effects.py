"""Importing a service touches no disk: the app is built, but its database folder is made on first connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def test_importing_the_services_creates_no_file_or_folder(tmp_path: Path) -> None:
    code = "import services.ingest.main, services.classify.main, services.accountability.main"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": "sqlite:///var/deep/journeyline.db"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_folder_is_made_on_the_first_connection(tmp_path: Path) -> None:
    from sqlalchemy import text

    from shared.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'x.db'}")
    assert not (tmp_path / "a").exists()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert (tmp_path / "a" / "b" / "x.db").exists()
    engine.dispose()
