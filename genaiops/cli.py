"""The ``genaiops`` command line: one Typer app; each package adds its own commands.

Packages expose ``register(app)``; this module only builds the settings once and mounts them.
Errors a user can fix are printed as one line (exit 2), never as a traceback.
"""

from __future__ import annotations

import importlib
import logging

import typer

from genaiops.settings import Settings, get_settings

app = typer.Typer(
    name="genaiops",
    help="MLOps + LLMOps in one service: a scikit-learn model and a RAG chatbot over the course.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Each module below defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = (
    "rag.cli",
    "classic_ml.cli",
    "prompts.cli",
    "eval.cli",
    "app.cli",
    "ui.cli",
    "genaiops.monitor_cli",
    "genaiops.db_cli",
)


def settings_from(ctx: typer.Context) -> Settings:
    """The settings built by the root callback (commands call this, never ``get_settings``)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = get_settings()
    return root.obj


@app.callback()
def _root(ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs.")) -> None:
    settings = get_settings()
    logging.basicConfig(
        level="DEBUG" if verbose else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = settings


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # the package has no CLI yet
                continue
            raise
        module.register(app)


_register_commands()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
