"""`genaiops up` refuses a busy port with one line, before starting anything (the full run is in the e2e test)."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from app.cli import app
from tests.ui.helpers import free_port
from ui.cli import UI_ENTRY, streamlit_command


def test_up_refuses_a_busy_port_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        args = ["up", "--host", "127.0.0.1", "--api-port", str(port), "--ui-port", str(free_port())]
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"error: port {port} (API) on 127.0.0.1 is already in use: free it or pick another port"
    )


def test_streamlit_runs_the_chat_page_headless_on_the_given_port() -> None:
    command = streamlit_command("127.0.0.1", 8765)
    assert command[command.index("run") + 1] == str(UI_ENTRY) and UI_ENTRY.is_file()
    flags = dict(zip(command[command.index("run") + 2 :: 2], command[command.index("run") + 3 :: 2], strict=True))
    assert flags["--server.headless"] == "true" and flags["--server.port"] == "8765"
    assert flags["--browser.gatherUsageStats"] == "false"
