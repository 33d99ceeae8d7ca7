"""The command line's shared ground, and genaiops' own commands (``db``, ``keys``).

Every package keeps its commands in its own ``cli.py`` with a ``register(app)``; ``app/cli.py`` builds the
``genaiops`` command from ``new_app()`` and mounts them all with plain imports. Commands get their settings
from ``settings_from(ctx)`` (built once per run) and report a problem the user can fix with ``fail``:
one ``error: ...`` line on stderr and exit code 2 (1 for a verdict: drift, a failed gate), never a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from genaiops.settings import Settings, get_settings

console = Console()
# `genaiops monitor classic|rag`: one group, its commands registered by classic_ml/cli.py and rag/cli.py.
monitor_app = typer.Typer(help="Drift of the classic model and quality of the RAG, from the request logs.")
db_app = typer.Typer(help="The operational database (settings database_url): schema migrations.")
keys_app = typer.Typer(help="Client API keys (required on /ask*, /v1/*, ... when api.require_api_key is on).")


def new_app() -> typer.Typer:
    """The root ``genaiops`` Typer app: builds the settings once and sets up logging for every command."""
    app = typer.Typer(
        name="genaiops",
        help="MLOps + LLMOps in one service: a scikit-learn model and a RAG chatbot over the course.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def _root(ctx: typer.Context, verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logs.")) -> None:
        settings = get_settings()
        logging.basicConfig(
            level="DEBUG" if verbose else settings.log_level,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        if not verbose:  # one line per HTTP call (the LLM server, MLflow) would drown what matters
            logging.getLogger("httpx").setLevel(logging.WARNING)
        ctx.obj = settings

    return app


def report_monitor(summary: dict[str, Any], as_json: bool, render: Any, alarm: str) -> None:
    """A monitor's summary as JSON or tables, then exit 1 on ``alarm``, so `genaiops monitor ... || notify` works."""
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        render(summary)
    if summary["status"] == alarm:
        raise typer.Exit(1)


def settings_from(ctx: typer.Context) -> Settings:
    """The settings built by the root callback (commands call this, never ``get_settings``)."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = get_settings()
    return root.obj


def fail(message: str, code: int = 2) -> typer.Exit:
    """The one error style of every command: ``error: MESSAGE`` on stderr; raise what this returns.

    Code 2: something the user can fix (a bad option, a missing file, a server down); 1: a verdict.
    """
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def fmt(value: Any) -> str:
    """A number (or flag) in a table cell: '-' for missing, 3 decimals, small values in 3 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def quiet_mlflow() -> None:
    """No per-file download bars from MLflow in terminal output (a CLI process setting, not global config)."""
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)


# -- genaiops db ------------------------------------------------------------------------------------------
def _database_unreachable(exc: Exception) -> typer.Exit:
    return fail(f"database unreachable: {getattr(exc, 'orig', exc)}")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to the newest schema (the API also does it at start-up).

    Example: `GENAIOPS_DATABASE_URL=postgresql+psycopg://... genaiops db upgrade`
    """
    import sqlalchemy as sa

    from genaiops.migrate import current_revision, upgrade_database

    settings = settings_from(ctx)
    try:
        before = current_revision(settings)
        head = upgrade_database(settings, force=True)
    except sa.exc.OperationalError as exc:
        raise _database_unreachable(exc) from exc
    typer.echo(f"schema revision {before or 'none'} -> {head}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the schema revision of the database and the newest one (e.g. `genaiops db current`)."""
    import sqlalchemy as sa

    from genaiops.migrate import current_revision, head_revision

    settings = settings_from(ctx)
    try:
        current = current_revision(settings)
    except sa.exc.OperationalError as exc:
        raise _database_unreachable(exc) from exc
    typer.echo(f"current {current or 'none'}, newest {head_revision(settings)}")


# -- genaiops keys ----------------------------------------------------------------------------------------
def _key_store(ctx: typer.Context):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from genaiops.keys import build_key_store

    try:
        return build_key_store(settings_from(ctx))
    except sa.exc.OperationalError as exc:
        raise _database_unreachable(exc) from exc


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Who the key is for, e.g. open-webui (unique, never reused)."),
    from_env: str = typer.Option(
        None, "--from-env", metavar="VAR", help="Register the secret in this environment variable instead."
    ),
    exist_ok: bool = typer.Option(
        False, "--exist-ok", help="A key of this name already there (not revoked) is fine: print nothing, exit 0."
    ),
) -> None:
    """Create a client key and print it as the last line (only its hash is kept: copy it now).

    Example: `genaiops keys create open-webui`, then `Authorization: Bearer <key>`.
    """
    from genaiops.keys import KeyCommandError

    secret = None
    if from_env:
        secret = os.environ.get(from_env)
        if not secret:
            raise fail(f"environment variable {from_env} is empty or unset")
    store = _key_store(ctx)
    if exist_ok and any(k.name == name and not k.revoked for k in store.list()):
        store.close()
        typer.echo(f"key {name!r} already exists", err=True)
        return
    try:
        record, key = store.create(name, secret)
    except KeyCommandError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()
    typer.echo(f"created key {record.name!r} ({record.prefix}...); it is shown only once:", err=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """Every key: name, first characters, created, revoked (e.g. `genaiops keys list`)."""
    store = _key_store(ctx)
    try:
        keys = store.list()
    finally:
        store.close()
    table = Table("name", "key", "created", "revoked")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
        table.add_row(key.name, f"{key.prefix}...", key.created_at.isoformat(timespec="seconds"), revoked)
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Revoke a key: its next request gets 403 (e.g. `genaiops keys revoke open-webui`)."""
    from genaiops.keys import KeyCommandError

    store = _key_store(ctx)
    try:
        record = store.revoke(name)
    except KeyCommandError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()
    typer.echo(f"revoked key {record.name!r} ({record.prefix}...)")


def register(app: typer.Typer) -> None:
    """``genaiops monitor`` (the group the packages fill), ``genaiops db`` and ``genaiops keys``."""
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")
