"""``genaiops db upgrade|current`` and ``genaiops keys create|list|revoke``.

A problem the user can fix (database unreachable, name taken, unknown key) exits 2 with one line.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.table import Table

console = Console()
db_app = typer.Typer(help="The operational database (settings database_url): schema migrations.")
keys_app = typer.Typer(help="Client API keys (required on /ask*, /v1/*, ... when api.require_api_key is on).")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to the newest schema (the API also does it at start-up).

    Example: `GENAIOPS_DATABASE_URL=postgresql+psycopg://... genaiops db upgrade`
    """
    import sqlalchemy as sa

    from genaiops.cli import settings_from
    from genaiops.migrate import current_revision, upgrade_database

    settings = settings_from(ctx)
    try:
        before = current_revision(settings)
        head = upgrade_database(settings, force=True)
    except sa.exc.OperationalError as exc:
        raise _fail(f"database unreachable: {exc.orig}") from exc
    typer.echo(f"schema revision {before or 'none'} -> {head}")


@db_app.command("current")
def db_current(ctx: typer.Context) -> None:
    """Print the schema revision of the database and the newest one (e.g. `genaiops db current`)."""
    import sqlalchemy as sa

    from genaiops.cli import settings_from
    from genaiops.migrate import current_revision, head_revision

    settings = settings_from(ctx)
    try:
        current = current_revision(settings)
    except sa.exc.OperationalError as exc:
        raise _fail(f"database unreachable: {exc.orig}") from exc
    typer.echo(f"current {current or 'none'}, newest {head_revision(settings)}")


def _store(ctx: typer.Context):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from genaiops.cli import settings_from
    from genaiops.keys import build_key_store

    try:
        return build_key_store(settings_from(ctx))
    except sa.exc.OperationalError as exc:
        raise _fail(f"database unreachable: {exc.orig}") from exc


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
            raise _fail(f"environment variable {from_env} is empty or unset")
    store = _store(ctx)
    if exist_ok and any(k.name == name and not k.revoked for k in store.list()):
        store.close()
        typer.echo(f"key {name!r} already exists", err=True)
        return
    try:
        record, key = store.create(name, secret)
    except KeyCommandError as exc:
        raise _fail(str(exc)) from exc
    finally:
        store.close()
    typer.echo(f"created key {record.name!r} ({record.prefix}...); it is shown only once:", err=True)
    typer.echo(key)


@keys_app.command("list")
def keys_list(ctx: typer.Context) -> None:
    """Every key: name, first characters, created, revoked (e.g. `genaiops keys list`)."""
    store = _store(ctx)
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

    store = _store(ctx)
    try:
        record = store.revoke(name)
    except KeyCommandError as exc:
        raise _fail(str(exc)) from exc
    finally:
        store.close()
    typer.echo(f"revoked key {record.name!r} ({record.prefix}...)")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")
