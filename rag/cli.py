"""RAG commands: ``genaiops ingest``, ``genaiops ask`` and ``genaiops monitor rag``.

``monitor rag`` exits 1 on a regression (0 when fine or without data yet), so it can run from cron or CI
as an alert; errors follow ``genaiops.cli.fail`` (one line, exit 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from genaiops.cli import fail, fmt, monitor_app, report_monitor, settings_from
from rag.ingest import IngestReport

console = Console()


def _print_report(report: IngestReport) -> None:
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


# -- genaiops monitor rag ---------------------------------------------------------------------------------
@monitor_app.command("rag")
def monitor_rag(
    ctx: typer.Context,
    window: int = typer.Option(None, min=10, help="Asks per window; default settings monitoring.window."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (the /monitoring/rag body)."),
) -> None:
    """RAG quality of the latest asks vs the first window; exit 1 on a regression (cron / CI alert).

    Example: `genaiops monitor rag --window 50 || notify-team`.
    """
    from rag.monitoring import rag_summary

    summary = rag_summary(settings_from(ctx), window=window)
    report_monitor(summary, as_json, _print_rag, alarm="regression")


def _print_rag(summary: dict[str, Any]) -> None:
    console.print(f"{len(summary['windows'])} window(s) of {summary['window_size']} asks: status "
                  f"[bold]{summary['status']}[/bold]")  # fmt: skip
    if summary["status"] == "no_data":
        console.print("need a reference window and a current one: more traffic to POST /ask")
    table = Table(title="current window vs reference (window 0)")
    for column in ("check", "reference", "current", "threshold", "status"):
        table.add_column(column, justify="left" if column == "check" else "right")
    for c in summary["checks"]:
        status = "[red]REGRESSED[/red]" if c["regressed"] else ("ok" if c["threshold"] is not None else "n/a")
        table.add_row(c["name"], fmt(c["reference"]), fmt(c["current"]), fmt(c["threshold"]), status)
    if summary["checks"]:
        console.print(table)
    _print_versions(summary)
    history = summary["eval_history"]
    if history:
        last = history[-1]
        before = history[-2]["metrics"] if len(history) > 1 else {}
        trend = ", ".join(
            f"{k} {fmt(v)}" + (f" ({v - before[k]:+.3f})" if k in before else "")
            for k, v in sorted(last["metrics"].items())
            if not k.startswith(("nan_", "eval_seconds"))
        )
        console.print(f"last offline eval {last['run_id'][:8]} ({last['prompt']}): {trend}")


def _print_versions(summary: dict[str, Any]) -> None:
    """The recent asks split by prompt version, and the canary's verdict (candidate vs production)."""
    versions = summary.get("prompt_versions") or []
    if versions:
        table = Table(title="recent asks by prompt version")
        columns = ("asks", "refusal_rate", "grounded_rate", "extractive_rate", "negative_feedback_rate",
                   "latency_p95_ms", "mean_top_score")  # fmt: skip
        table.add_column("prompt")
        for column in columns:
            table.add_column(column.replace("_", " "), justify="right")
        for v in versions:
            table.add_row(v["prompt"], *(fmt(v[c]) for c in columns))
        console.print(table)
    canary = summary.get("canary")
    if canary:
        console.print(live_table(canary))


def live_table(live: dict) -> Table:
    """The canary comparison (rag.canary.compare) as a table: one test per signal and the verdict."""
    asks = live["asks"]
    table = Table(
        title=f"Live traffic: {live['candidate']} ({asks['candidate']} asks) vs {live['production']} "
        f"({asks['production']} asks)"
    )
    for column in ("signal", "production", "candidate", "test", "p-value", "direction"):
        table.add_column(column, justify="left" if column in ("signal", "test") else "right")
    for test in live["tests"]:
        direction = test["direction"] if test["significant"] else f"({test['direction']})"
        colour = {"better": "green", "worse": "red"}.get(direction, "")
        table.add_row(
            test["signal"], fmt(test["production"]), fmt(test["candidate"]), test["test"],
            "-" if test["p_value"] is None else f"{test['p_value']:.3g}",
            f"[{colour}]{direction}[/{colour}]" if colour else direction,
        )  # fmt: skip
    table.caption = f"verdict: {live['verdict']} ({live['reason']})"
    return table


def register(app: typer.Typer) -> None:
    """``ingest`` and ``ask`` (``monitor rag`` is on ``genaiops.cli.monitor_app``)."""

    @app.command()
    def ingest(
        ctx: typer.Context,
        path: Path = typer.Argument(None, help="Folder (mirrored) or single file; default: settings rag.corpus_dir."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of a table."),
    ) -> None:
        """Index .md/.txt/.pdf files, incrementally (e.g. `genaiops ingest data/course --json`).

        Unchanged files embed nothing, changed files replace their chunks, deleted files lose them.
        """
        from rag.ingest import IngestError
        from rag.ingest import ingest as run_ingest
        from rag.store import VectorStoreUnavailableError

        settings = settings_from(ctx)
        settings.ensure_dirs()
        try:
            report = run_ingest(settings, path, progress=not as_json)
        except (IngestError, VectorStoreUnavailableError) as exc:
            raise fail(str(exc)) from exc
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
            raise fail(str(exc)) from exc
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
