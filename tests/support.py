"""Test support: run a Journeyline service as a real process, wait for it, stop it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine

from services.cli.brokers import broker_kind
from services.cli.embedded import free_port

ROOT = Path(__file__).resolve().parent.parent
BROKER_KIND = broker_kind()  # JOURNEYLINE_BROKER: tansu (default) or kafka
ENGINE = BROKER_KIND  # the KafkaSettings.engine of that broker


class ServiceProcess:
    """`uvicorn services.<name>.main:app` in its own process, on a free port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, port: int | None = None) -> None:
        self.name, self.env, self.port = name, env, port or free_port()
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True, timeout: float = 120.0) -> ServiceProcess:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            f"services.{self.name}.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        self.wait("/readyz" if wait_ready else "/healthz", timeout)
        return self

    def wait(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not answering 200 on {path} within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        proc, self.process = self.process, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def sqlite_pragma(engine: Engine, name: str) -> int:
    """A SQLite pragma's value as one of `engine`'s connections has it."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())


def rows_in_the_database_file(path: Path | str, table: str) -> int:
    """Rows of `table` in a SQLite database file itself, not counting what only its WAL holds (`immutable`: the
    WAL is not read); -1 if the file changed under the read (look again)."""
    try:
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608 - a test names it
    except sqlite3.DatabaseError:
        return -1
