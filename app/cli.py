"""The ``genaiops`` command: one Typer app mounting every package's commands, with plain imports.

Each package keeps its commands in its own ``cli.py`` (``register(app)``); the shared ground (settings of
the run, the error style, the ``monitor`` group) is ``genaiops.cli``. This module adds ``serve`` and is
the entry point (``genaiops`` in pyproject.toml; ``python -m app.cli`` is the same command).
"""

from __future__ import annotations

import os

import typer

from classic_ml import cli as classic_cli
from eval import cli as eval_cli
from genaiops import cli as genaiops_cli
from genaiops.cli import new_app, settings_from
from prompts import cli as prompts_cli
from rag import cli as rag_cli
from ui import cli as ui_cli


def serve(
    ctx: typer.Context,
    host: str = typer.Option(None, help="Default: settings api.host."),
    port: int = typer.Option(None, help="Default: $PORT, else settings api.port."),
) -> None:
    """Serve the API (e.g. `genaiops serve --port 8000`)."""
    from app.main import create_app
    from app.server import run_api

    settings = settings_from(ctx)
    settings.ensure_dirs()
    port = port or int(os.environ.get("PORT", settings.api.port))
    run_api(create_app(settings), settings, host or settings.api.host, port)


def build_cli() -> typer.Typer:
    """The whole command line, in the order ``genaiops --help`` lists it."""
    cli = new_app()
    rag_cli.register(cli)
    classic_cli.register(cli)
    prompts_cli.register(cli)
    eval_cli.register(cli)
    cli.command()(serve)
    ui_cli.register(cli)
    genaiops_cli.register(cli)
    return cli


app = build_cli()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
