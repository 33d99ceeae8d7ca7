"""RAG commands: ``genaiops ingest`` (and ``genaiops ask``, registered in the same function)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rag.ingest import IngestReport


def _print_report(report: IngestReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Ingestion summary", caption=f"{report.root} -> {report.collection}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (
        ("files seen", report.files_seen),
        ("files indexed", report.files_indexed),
        ("files skipped", len(report.skipped)),
        ("chunks added", report.chunks_added),
        ("chunks removed", report.chunks_removed),
        ("chunks unchanged", report.chunks_unchanged),
        ("seconds", f"{report.seconds:.1f}"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    for path, reason in report.skipped:
        console.print(f"[yellow]skipped[/yellow] {path}: {reason}")


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        ctx: typer.Context,
        path: Path = typer.Argument(None, help="Folder (mirrored) or single file; default: settings rag.corpus_dir."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    ) -> None:
        """Index .md/.txt/.pdf files, incrementally (e.g. `genaiops ingest data/course --json`).

        Unchanged files embed nothing, changed files replace their chunks, deleted files lose them.
        """
        from genaiops.cli import settings_from
        from rag.ingest import IngestError
        from rag.ingest import ingest as run_ingest
        from rag.store import VectorStoreUnavailableError

        settings = settings_from(ctx)
        settings.ensure_dirs()
        try:
            report = run_ingest(settings, path, progress=not as_json)
        except (IngestError, VectorStoreUnavailableError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            _print_report(report)

    # ---- `genaiops ask` (answering side) is registered below this line, inside register(). ----

    @app.command()
    def ask(
        ctx: typer.Context,
        question: str = typer.Argument(..., help="The question, in French or English."),
        as_json: bool = typer.Option(False, "--json", help="Print the /ask response body as JSON."),
        top_k: int = typer.Option(None, "--top-k", min=1, max=20, help="Passages to retrieve (1-20)."),
    ) -> None:
        """Answer a question from the indexed course (e.g. `genaiops ask "Qu'est-ce que le MLOps ?" --json`).

        Prints the answer, how it was produced (generative, extractive or refusal) and its numbered sources.
        """
        from genaiops.cli import settings_from
        from rag.service import InvalidRequestError, answer_to_dict, build_rag_service, validate_question
        from rag.store import VectorStoreUnavailableError
        from rag.types import EmptyIndexError, LlmUnavailableError

        settings = settings_from(ctx)
        settings.ensure_dirs()
        try:
            validate_question(question, top_k, settings.rag.max_question_chars)  # before the model load
            service = build_rag_service(settings)
            answer = service.ask(question, top_k=top_k)
        except (InvalidRequestError, EmptyIndexError, LlmUnavailableError, VectorStoreUnavailableError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        service.close()  # exports the answer's trace while the process is still whole
        if as_json:
            typer.echo(json.dumps(answer_to_dict(answer), indent=2, ensure_ascii=False))
            return
        typer.echo(answer.answer)
        seconds = answer.timings_ms.get("total", 0.0) / 1000
        typer.echo(
            f"\n[{answer.mode}, grounded={answer.grounded}, {answer.model}, "
            f"{answer.prompt_name}@{answer.prompt_version}, {seconds:.1f} s]"
        )
        for number, scored in enumerate(answer.sources, start=1):
            typer.echo(f"[{number}] {scored.chunk.source} > {scored.chunk.heading} (score {scored.score:.2f})")
