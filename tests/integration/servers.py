"""Real servers for the integration tests: ``mlflow server`` and ``chroma run`` as child processes on 127.0.0.1.

Each runs in its own process group (``mlflow server`` forks uvicorn workers), so ``stop`` ends the
whole group and the port answers "connection refused" afterwards, as a crashed server would.
Their output goes to a log file whose tail is shown when one fails to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent  # the venv's console scripts: mlflow, chroma


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"))}
    env.update({"MLFLOW_ENABLE_TELEMETRY": "false", "ANONYMIZED_TELEMETRY": "False", "DO_NOT_TRACK": "1"})
    return env


@dataclass
class ServerProcess:
    """One server: ``start()`` it, ``wait_healthy()``, ``stop()``; ``start()`` again reuses port and data."""

    name: str
    argv: list[str]
    port: int
    health_path: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env=_child_env(), start_new_session=True
        )
        log.close()

    def healthy(self) -> bool:
        try:
            return httpx.get(self.url + self.health_path, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"{self.name} did not become healthy on {self.url}; its log ends with:\n{tail}")
            time.sleep(0.2)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM to the process group, SIGKILL to whatever is left after ``grace_s``."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the child leads its own group
        _signal_group(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=grace_s)
        _signal_group(pgid, signal.SIGKILL)  # stragglers (forked workers) and a leader that ignored SIGTERM
        self.proc.wait(timeout=10)
        self.proc = None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pgid, sig)


def mlflow_server(root: Path) -> ServerProcess:
    """MLflow with a sqlite backend store and artifacts proxied by the server into ``root/artifacts``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    return ServerProcess("mlflow server", argv, port, "/health", root / "mlflow.log")


def chroma_server(root: Path) -> ServerProcess:
    """A Chroma server persisting into ``root/data``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [str(BIN / "chroma"), "run", "--path", str(root / "data"), "--host", "127.0.0.1", "--port", str(port)]
    return ServerProcess("chroma run", argv, port, "/api/v2/heartbeat", root / "chroma.log")
