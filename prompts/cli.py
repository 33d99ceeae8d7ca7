"""``genaiops prompts ...``: push, list, diff and promote prompt versions in the MLflow Prompt Registry."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from genaiops.cli import fail, settings_from

console = Console()
prompts_app = typer.Typer(help="Prompt templates: git files <-> MLflow Prompt Registry.", no_args_is_help=True)


@prompts_app.command("push")
def push_cmd(ctx: typer.Context) -> None:
    """Register a new version of each changed prompt file (idempotent). Example: `genaiops prompts push`."""
    from prompts.registry import push

    results = push(settings_from(ctx))
    table = Table(title="prompts push")
    for column in ("prompt", "status", "version", "detail"):
        table.add_column(column)
    for r in results:
        style = {"registered": "green", "unchanged": "dim", "invalid": "red"}[r.status]
        table.add_row(r.name, f"[{style}]{r.status}[/{style}]", str(r.version or "-"), r.detail)
    console.print(table)
    if any(r.status == "invalid" for r in results):
        raise fail("invalid prompt file(s): see the detail column")


@prompts_app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Registered prompts, versions and aliases. Example: `genaiops prompts list`."""
    from genaiops.tracking import mlflow_store
    from prompts.registry import list_prompts

    settings = settings_from(ctx)
    store = mlflow_store(settings)
    if store.state() == "unreachable":
        raise fail(f"prompt registry at {store.uri} unreachable")
    table = Table(title="registered prompts")
    for column in ("prompt", "version", "aliases", "git commit"):
        table.add_column(column)
    for prompt in [] if store.missing() else list_prompts(settings):
        for v in prompt["versions"]:
            table.add_row(prompt["name"], v["version"], ", ".join(v["aliases"]), v["commit"])
    console.print(table)


@prompts_app.command("diff")
def diff_cmd(ctx: typer.Context, name: str, v1: int, v2: int) -> None:
    """Unified diff of two versions, the same text the API and the UI show.

    Example: `genaiops prompts diff rag_answer 1 2`.
    """
    from prompts.catalog import RegistryUnavailableError, VersionNotFoundError, version_diff

    try:
        text = version_diff(settings_from(ctx), name, v1, v2)
    except (VersionNotFoundError, RegistryUnavailableError) as exc:
        raise fail(str(exc)) from exc
    typer.echo(text or "(no difference)")


@prompts_app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    name: str,
    version: int,
    alias: str = typer.Option("production", help="production | candidate"),
) -> None:
    """Point an alias at a version. Example: `genaiops prompts promote rag_answer 2 --alias production`."""
    from mlflow.exceptions import MlflowException

    from prompts.loader import PromptError
    from prompts.registry import promote

    try:
        promote(settings_from(ctx), name, version, alias)
    except (MlflowException, PromptError) as exc:
        raise fail(str(getattr(exc, "message", exc))) from exc
    console.print(f"{name}@{alias} -> version {version} (the API picks it up on POST /admin/reload/rag)")


def register(app: typer.Typer) -> None:
    """``genaiops prompts push|list|diff|promote``."""
    app.add_typer(prompts_app, name="prompts")
