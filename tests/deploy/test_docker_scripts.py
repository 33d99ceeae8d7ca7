"""The scripts the images run, exercised for real: the healthcheck against a live HTTP server, the database
bootstrap against PostgreSQL, the init sequence with a recording stand-in for the `genaiops` CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest

from genaiops.settings import REPO_ROOT
from tests.conftest import in_ci

DOCKER = REPO_ROOT / "docker"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status = {"/health": 200, "/ready": 503}.get(self.path, 404)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _healthcheck(arg: str, port: int | str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PORT": str(port)}
    script = str(DOCKER / "healthcheck.py")
    return subprocess.run([sys.executable, script, arg], capture_output=True, text=True, env=env, timeout=30)


def test_healthcheck_follows_port_and_reads_the_status(http_port: int) -> None:
    assert _healthcheck("/health", http_port).returncode == 0
    ready = _healthcheck("/ready", http_port)
    assert ready.returncode == 1 and "503" in ready.stdout
    assert _healthcheck(f"http://127.0.0.1:{http_port}/health", "1").returncode == 0, "a full URL ignores $PORT"


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    result = _healthcheck("/health", free)
    assert result.returncode == 1 and "unreachable" in result.stdout


def _postgres_up() -> bool:
    try:
        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture
def scratch_database() -> Iterator[str]:
    if not _postgres_up():
        if in_ci():
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 in CI")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"genaiops_deploy_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _ensure(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = str(DOCKER / "ensure_database.py")
    args = [sys.executable, script] + ([url] if url else [])
    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


@pytest.mark.postgres
def test_ensure_database_creates_once_then_finds_it(scratch_database: str) -> None:
    url = f"{PG}/{scratch_database}"
    first = _ensure(url)
    assert first.returncode == 0 and f"database {scratch_database} created" in first.stdout, first.stderr
    second = _ensure("", MLFLOW_BACKEND_STORE_URI=url)  # the entrypoint's way: from the environment
    assert second.returncode == 0 and f"database {scratch_database} exists" in second.stdout, second.stderr
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={scratch_database}") as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (scratch_database,)


def test_ensure_database_leaves_other_backends_alone(tmp_path: Path) -> None:
    result = _ensure(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert result.returncode == 0 and "nothing to create" in result.stdout
    assert not (tmp_path / "mlflow.db").exists()


def test_ensure_database_reports_an_unreachable_server() -> None:
    sys.path.insert(0, str(DOCKER))
    try:
        import ensure_database  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(DOCKER))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    with pytest.raises(psycopg.OperationalError):
        ensure_database.ensure_database(f"postgresql+psycopg://u:p@127.0.0.1:{free}/x", attempts=2, delay_s=0.01)


@pytest.fixture
def fake_cli(tmp_path: Path) -> Path:
    """A `genaiops` on PATH that records its arguments and fails on the step named in $FAIL_ON."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "genaiops"
    fake.write_text('#!/bin/sh\necho "$*" >> "$CALLS"\n[ "$1" = "${FAIL_ON:-}" ] && exit 3\nexit 0\n')
    fake.chmod(0o755)
    return bin_dir


def _init(fake_cli: Path, tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = tmp_path / "calls.log"
    calls.unlink(missing_ok=True)
    full_env = {
        "PATH": f"{fake_cli}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "GENAIOPS_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    result = subprocess.run(["sh", str(DOCKER / "init.sh")], capture_output=True, text=True, env=full_env, timeout=30)
    return result, calls.read_text().splitlines() if calls.exists() else []


def test_init_runs_ingest_train_push_in_order_once(fake_cli: Path, tmp_path: Path) -> None:
    result, calls = _init(fake_cli, tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls == ["ingest", "train", "prompts push"]
    assert (tmp_path / "data" / ".init-done").exists()
    again, calls = _init(fake_cli, tmp_path)
    assert again.returncode == 0 and calls == [] and "already done" in again.stdout
    forced, calls = _init(fake_cli, tmp_path, INIT_MODE="always")
    assert forced.returncode == 0 and calls == ["ingest", "train", "prompts push"]


def test_init_stops_at_the_first_failure_and_leaves_no_marker(fake_cli: Path, tmp_path: Path) -> None:
    result, calls = _init(fake_cli, tmp_path, FAIL_ON="train")
    assert result.returncode == 3
    assert calls == ["ingest", "train"], "prompts push must not run after a failed train"
    assert not (tmp_path / "data" / ".init-done").exists(), "the API must not start on a half-initialised stack"


def test_init_refuses_an_unknown_mode(fake_cli: Path, tmp_path: Path) -> None:
    result, calls = _init(fake_cli, tmp_path, INIT_MODE="sometimes")
    assert result.returncode == 2 and "INIT_MODE" in result.stderr and calls == []


def test_init_registers_the_ui_key_when_one_is_set(fake_cli: Path, tmp_path: Path) -> None:
    result, calls = _init(fake_cli, tmp_path, GENAIOPS_UI__API_KEY="ui-key-0123456789abcdef01234567")
    assert result.returncode == 0, result.stderr
    assert calls == ["ingest", "train", "prompts push", "keys create ui --from-env GENAIOPS_UI__API_KEY --exist-ok"]
    assert "ui-key-0123456789abcdef01234567" not in result.stdout + result.stderr
