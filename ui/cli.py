"""``genaiops up``: the API and the Streamlit UI side by side, the command behind ``make run``.

Both run as child processes in their own process groups so that one Ctrl-C (or a SIGTERM from
a supervisor) stops both cleanly, and neither outlives ``up``. The UI is pointed at this API
through ``GENAIOPS_API_URL``, exactly as a deployed UI would be pointed at a remote one.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import typer

from genaiops.children import die_with_parent
from genaiops.cli import fail, settings_from
from genaiops.settings import REPO_ROOT

UI_ENTRY = REPO_ROOT / "ui" / "Home.py"


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    health_url: str


def streamlit_command(host: str, port: int) -> list[str]:
    """``streamlit run ui/Home.py`` headless, without telemetry or the developer toolbar."""
    return [
        *(sys.executable, "-m", "streamlit", "run", str(UI_ENTRY)),
        *("--server.headless", "true", "--server.port", str(port), "--server.address", host),
        *("--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"),
    ]


def _port_busy(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _browse_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a URL to click, not a bind


def _start(name: str, command: list[str], env: dict[str, str], health_url: str) -> Child:
    process = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=die_with_parent)
    return Child(name, process, health_url)


def _wait_healthy(children: list[Child], timeout_s: float) -> None:
    """Poll each child's health URL until all answer 200; fail fast if one exits."""
    deadline = time.monotonic() + timeout_s
    pending = list(children)
    with httpx.Client(timeout=2.0) as http:
        while pending:
            for child in list(pending):
                code = child.process.poll()
                if code is not None:
                    raise RuntimeError(f"the {child.name} exited with code {code} while starting (see its log above)")
                try:
                    if http.get(child.health_url).status_code == 200:
                        pending.remove(child)
                except httpx.TransportError:
                    pass
            if pending and time.monotonic() > deadline:
                names = " and ".join(c.name for c in pending)
                raise RuntimeError(f"the {names} did not answer within {timeout_s:g} s (settings ui.startup_timeout_s)")
            if pending:
                time.sleep(0.5)


def _stop(children: list[Child], grace_s: float = 15.0) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after ``grace_s``."""
    for child in children:
        if child.process.poll() is None:
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def register(app: typer.Typer) -> None:
    @app.command()
    def up(
        ctx: typer.Context,
        api_port: int = typer.Option(None, help="Default: settings api.port."),
        ui_port: int = typer.Option(None, help="Default: settings ui.port."),
        host: str = typer.Option(None, help="Address both listen on; default settings api.host."),
    ) -> None:
        """Start the API and the UI, wait until both answer, print their URLs; Ctrl-C stops both.

        Example: `genaiops up --api-port 8000 --ui-port 8501`
        """
        settings = settings_from(ctx)
        host = host or settings.api.host
        api_port, ui_port = api_port or settings.api.port, ui_port or settings.ui.port
        for label, port in (("API", api_port), ("UI", ui_port)):
            if _port_busy(host, port):
                raise fail(f"port {port} ({label}) on {host} is already in use: free it or pick another port")
        browse = _browse_host(host)
        api_url, ui_url = f"http://{browse}:{api_port}", f"http://{browse}:{ui_port}"
        env = {**os.environ, "GENAIOPS_API_URL": api_url}  # Settings: it overrides ui.api_url
        serve = [sys.executable, "-m", "app.cli", "serve", "--host", host, "--port", str(api_port)]
        logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per health poll
        signal.signal(signal.SIGTERM, _on_sigterm)
        # Ctrl-C even where the shell that started us ignores SIGINT (`make run &`, nohup): Python keeps an
        # inherited SIG_IGN, and `up` would then never stop its children on an interrupt
        signal.signal(signal.SIGINT, signal.default_int_handler)
        children: list[Child] = []
        try:
            children.append(_start("API", serve, env, f"{api_url}/health"))
            children.append(_start("UI", streamlit_command(host, ui_port), env, f"{ui_url}/_stcore/health"))
            _wait_healthy(children, settings.ui.startup_timeout_s)
            typer.echo(f"\nAPI: {api_url}  (OpenAPI docs: {api_url}/docs)\nUI:  {ui_url}\nCtrl-C stops both.")
            while all(c.process.poll() is None for c in children):
                time.sleep(0.5)
            gone = next(c for c in children if c.process.poll() is not None)
            raise fail(f"the {gone.name} stopped (exit code {gone.process.returncode}); stopping the other", code=1)
        except RuntimeError as exc:
            raise fail(str(exc), code=1) from exc
        except KeyboardInterrupt:
            typer.echo("stopping the API and the UI")
        finally:
            _stop(children)
