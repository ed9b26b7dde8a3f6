"""Real PostgreSQL for the central-store tests.

`pg_url`: a fresh database per test on the server `.ci/services.sh` started (STATION_TEST_PG_URL); the
test skips with the reason when the variable is not set (a dev box without services).
`pg_server`: a throwaway PostgreSQL of our own (STATION_TEST_PG_BIN: the Debian binaries), for the
tests that kill the database and start it again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed (pip install '.[fleet]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_database(server_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"create database {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = os.environ.get("STATION_TEST_PG_URL")
    if not server:
        pytest.skip("no PostgreSQL: run the tests through .ci/run, or eval \"$(.ci/services.sh start)\" first "
                    "(sets STATION_TEST_PG_URL)")
    url = _fresh_database(server)
    yield url
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


def _ppid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


class PgServer:
    """A PostgreSQL cluster in a temporary folder on 127.0.0.1, that a test may kill -9 and restart."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="station-pg-"))
        self.port = free_port()
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_pg:
            shutil.chown(self.dir, "postgres")
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "-A", "trust", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout_s: float = 60.0) -> None:
        result = subprocess.run([*self.as_pg, str(self.bin / tool), *args], capture_output=True, text=True,
                                timeout=timeout_s)
        if result.returncode:
            raise RuntimeError(f"{tool} failed: {result.stderr or result.stdout}")

    def start(self) -> PgServer:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "pg.log"), "-w", "-t", "60", "start",
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off")
        return self

    def kill(self) -> None:
        """kill -9 of the postmaster and its backends: what a crash or a pulled plug looks like."""
        pid = int((self.dir / "data" / "postmaster.pid").read_text().split()[0])
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == pid]
        for victim in (pid, *children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{v}").exists() for v in (pid, *children)):
            time.sleep(0.05)
        (self.dir / "data" / "postmaster.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        subprocess.run([*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                        "-w", "-t", "30", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pg_server() -> Iterator[PgServer]:
    bin_dir = os.environ.get("STATION_TEST_PG_BIN")
    if not bin_dir:
        pytest.skip("no PostgreSQL binaries: run the tests through .ci/run, or eval \"$(.ci/services.sh start)\" "
                    "first (sets STATION_TEST_PG_BIN)")
    server = PgServer(Path(bin_dir)).start()
    yield server
    server.stop()
