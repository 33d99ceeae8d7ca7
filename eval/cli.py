"""``genaiops eval ...``: evaluate the RAG on the golden set, gate it, manage the baseline."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from genaiops.cli import fail, fmt, settings_from

console = Console()
eval_app = typer.Typer(help="Evaluate the RAG (ragas) and gate regressions.", no_args_is_help=True)


@eval_app.command("rag")
def eval_rag(
    ctx: typer.Context,
    limit: int = typer.Option(None, help="Keep the first N questions of each kind (quick runs)."),
    top_k: int = typer.Option(None, "--top-k", help="Override settings rag.top_k."),
    log: bool = typer.Option(True, help="Log the run to MLflow (experiment rag-eval)."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
    split: str = typer.Option(
        None, help="Only the 'dev' split (tune on it) or the 'test' split (report it); default both, sliced apart."
    ),
    subset: str = typer.Option(None, help="A fixed subset of the golden set: 'ci' (the stratified CI gate set)."),
) -> None:
    """Run the RAG over eval/datasets/golden.jsonl and score it. Example: `genaiops eval rag --split test`."""
    from eval.rag_eval import run_rag_eval
    from eval.tracking import log_eval_run
    from rag.types import EmptyIndexError

    settings = settings_from(ctx)
    settings.ensure_dirs()
    try:
        if split not in (None, "dev", "test") or subset not in (None, "ci"):
            raise fail("--split is dev or test; --subset is ci")
        result = run_rag_eval(
            settings,
            limit=limit,
            top_k=top_k,
            progress=not as_json,
            split=split,  # type: ignore[arg-type]
            subset=subset,
        )
    except EmptyIndexError as exc:
        raise fail(str(exc)) from exc
    if as_json:  # stdout is the JSON alone: with a server store MLflow prints run URLs there
        from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT

        MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.set(True)
    run_id = log_eval_run(settings, result) if log else None
    if as_json:
        body = {
            "run_id": run_id,
            "seconds": result.seconds,
            "release_id": result.params.get("release_id"),
            "metrics": result.metrics,
            "nan_counts": result.nan_counts,
        }
        print(json.dumps(body, indent=2))
        return
    table = Table(title=f"RAG eval ({len(result.rows)} questions, {result.seconds:.0f} s)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in sorted(result.metrics.items()):
        table.add_row(name, fmt(value))
    console.print(table)
    if run_id:
        console.print(f"MLflow run {run_id} in experiment '{settings.mlflow.rag_eval_experiment}'")


@eval_app.command("gate")
def eval_gate(
    ctx: typer.Context,
    run_id: str = typer.Option(None, help="Run to judge; default: the newest rag-eval run."),
) -> None:
    """Compare an eval run with the baseline; exit 1 on a regression. Example: `genaiops eval gate`."""
    from eval.gate import NoEvalRunError, gate_run

    try:
        current, report = gate_run(settings_from(ctx), run_id)
    except NoEvalRunError as exc:
        raise fail(str(exc)) from exc
    _print_gate(report, current["run_id"])
    if not report.passed:
        raise typer.Exit(1)


def _print_gate(report, run_id: str) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"Eval gate: run {run_id} vs {report.baseline_source}")
    for column in ("metric", "baseline", "now", "delta", "tolerance", "status"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for check in report.checks:
        status = "[red]FAIL[/red]" if check.failed else ("ok" if check.tolerance is not None else "info")
        table.add_row(
            check.name, fmt(check.baseline), fmt(check.current), fmt(check.delta), fmt(check.tolerance), status
        )
    console.print(table)
    if report.param_changes:
        changed = Table(title="release params that differ from the baseline's (shown, not gated)")
        for column in ("param", "baseline", "now"):
            changed.add_column(column)
        for name, (before, now) in report.param_changes.items():
            changed.add_row(name, before, now)
        console.print(changed)
    console.print("[green]gate passed[/green]" if report.passed else "[red]gate FAILED: a metric regressed[/red]")


@eval_app.command("baseline")
def eval_baseline(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="The rag-eval run that becomes the production baseline."),
    write_file: bool = typer.Option(False, help="Also write its metrics to eval/baseline.json (commit it)."),
) -> None:
    """Tag a run as the production baseline. Example: `genaiops eval baseline 3f2c... --write-file`."""
    from eval.gate import DEFAULT_TOLERANCES, load_file_baseline, write_file_baseline
    from eval.tracking import eval_runs, mark_baseline

    settings = settings_from(ctx)
    run = next((r for r in eval_runs(settings, limit=500) if r["run_id"] == run_id), None)
    if run is None:
        raise fail(f"no rag-eval run {run_id}")
    mark_baseline(settings, run_id)
    if write_file:
        tolerances = {**DEFAULT_TOLERANCES, **load_file_baseline(settings.eval.baseline_path).tolerances}
        metrics = {k: v for k, v in run["metrics"].items() if k != "eval_seconds"}
        write_file_baseline(
            settings.eval.baseline_path,
            metrics,
            tolerances or DEFAULT_TOLERANCES,
            params=run["params"],
            source=f"genaiops eval rag, MLflow run {run_id}",
        )
    console.print(f"run {run_id} is now the production baseline")


@eval_app.command("classic")
def eval_classic(ctx: typer.Context) -> None:
    """Champion vs challenger of the classic model on the same holdout. Example: `genaiops eval classic`."""

    comparison = _classic_or_exit(settings_from(ctx))
    console.print(_classic_table(comparison))


def _classic_or_exit(settings):  # type: ignore[no-untyped-def]
    from eval.classic_report import compare_classic

    comparison = compare_classic(settings)
    if comparison is None:
        raise fail("no registered classic model: run `genaiops train` first")
    return comparison


def _classic_table(c) -> Table:  # type: ignore[no-untyped-def]
    table = Table(
        title=f"Classic model '{c.model}': champion v{c.champion_version} vs challenger v{c.challenger_version}"
    )
    for column in ("metric", "champion", "challenger", "delta", "status"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    delta = None if c.champion_score is None or c.challenger_score is None else c.challenger_score - c.champion_score
    status = "[green]promoted[/green]" if c.challenger_passes else f"[yellow]{c.decision}[/yellow]"
    table.add_row(f"holdout {c.metric}", fmt(c.champion_score), fmt(c.challenger_score), fmt(delta), status)
    table.caption = c.reason
    return table


def report(ctx: typer.Context) -> None:
    """Both sides in one view: RAG eval vs baseline, classic champion vs challenger. Example: `genaiops report`."""
    from eval.classic_report import compare_classic
    from eval.gate import NoEvalRunError, gate_run

    settings = settings_from(ctx)
    try:
        current, gate_report = gate_run(settings)
        _print_gate(gate_report, current["run_id"])
    except NoEvalRunError as exc:
        console.print(f"[yellow]RAG: {exc}[/yellow]")
    comparison = compare_classic(settings)
    if comparison is None:
        console.print("[yellow]classic: no registered model: run `genaiops train`[/yellow]")
    else:
        console.print(_classic_table(comparison))


release_app = typer.Typer(help="Promote a RAG release (and the classic champion) together.", no_args_is_help=True)


@release_app.command("promote")
def release_promote(
    ctx: typer.Context,
    run_id: str = typer.Option(None, help="rag-eval run of the release; default: the newest."),
    with_classic: bool = typer.Option(False, "--with-classic", help="Also make the classic challenger champion."),
    require_live: bool = typer.Option(
        False,
        "--require-live",
        help="Also require enough live traffic on the prompt version (canary, prompts.canary_min_asks).",
    ),
    min_agreement: float = typer.Option(
        None,
        "--min-agreement",
        min=0,
        max=1,
        help="With --with-classic: the challenger must agree with the champion on this share of shadow "
        "traffic; default settings classic.shadow_min_agreement (unset: not required).",
    ),
    labels: Path = typer.Option(
        None,
        "--labels",
        help="With --with-classic: labels of shadow traffic (retrain format); the challenger's accuracy gain "
        "must reach classic.shadow_min_accuracy_gain.",
    ),
) -> None:
    """Make a RAG release the production baseline (and its prompt version `production`), only if every gate
    passes; a prompt version worse than production on live traffic (canary) is never promoted.
    Example: `genaiops release promote --with-classic`."""
    from eval.classic_report import promote_challenger
    from eval.gate import NoEvalRunError, gate_run
    from eval.tracking import mark_baseline

    settings = settings_from(ctx)
    try:
        current, gate_report = gate_run(settings, run_id)
    except NoEvalRunError as exc:
        raise fail(str(exc)) from exc
    _print_gate(gate_report, current["run_id"])
    comparison = _classic_or_exit(settings) if with_classic else None
    if comparison is not None:
        console.print(_classic_table(comparison))
    classic_ok = comparison is None or comparison.challenger_passes or comparison.challenger_is_champion
    if comparison is not None and not comparison.challenger_is_champion:
        agreement = min_agreement if min_agreement is not None else settings.classic.shadow_min_agreement
        classic_ok = _shadow_ok(settings, comparison, agreement, labels) and classic_ok
    if not (gate_report.passed and classic_ok):
        raise fail("not promoted: a gate failed (nothing was changed)", code=1)
    from eval.release import ReleaseError, release_prompt_version
    from prompts.registry import promote

    try:  # resolved before anything moves, so a refusal leaves everything as it was
        name, version = release_prompt_version(settings, current["params"])
    except ReleaseError as exc:
        raise fail(f"not promoted: {exc}", code=1) from exc
    _live_gate(settings, name, version, require_live)
    promote(settings, name, version, "production")
    mark_baseline(settings, current["run_id"])
    if comparison is not None and not comparison.challenger_is_champion:
        promote_challenger(settings, comparison)
    console.print(
        f"[green]release {current['params'].get('release_id', '?')} promoted: prompt {name}@{version} is "
        "production (POST /admin/reload/rag to serve it)[/green]"
    )


def _shadow_ok(settings, comparison, min_agreement: float | None, labels: Path | None) -> bool:  # type: ignore[no-untyped-def]
    """The challenger on shadow traffic, when asked (a minimum agreement, labels): printed, then judged."""
    from eval.classic_report import shadow_check

    if min_agreement is None and labels is None:
        return True
    from classic_ml.retrain import RetrainError

    try:
        check = shadow_check(settings, comparison, min_agreement=min_agreement, labels=labels)
    except RetrainError as exc:  # an unreadable labels file
        console.print(f"[red]{exc}[/red]")
        return False
    line = f"shadow traffic: {check.rows} row(s), agreement {fmt(check.agreement_rate)}"
    if check.accuracy and check.accuracy.get("labelled"):
        a = check.accuracy
        line += (f", {a['labelled']} labelled: champion accuracy {fmt(a['champion_accuracy'])}, "
                 f"challenger {fmt(a['challenger_accuracy'])}")  # fmt: skip
    console.print(line)
    for failure in check.failures:
        console.print(f"[red]shadow check failed: {failure}[/red]")
    return check.passed


def _live_gate(settings, name: str, version: int, require_live: bool) -> None:  # type: ignore[no-untyped-def]
    """The live comparison with production (canary traffic): exit 1 on a worse candidate, or on too little
    traffic with ``--require-live``. Nothing has moved yet when it refuses."""
    from eval.release import live_comparison
    from rag.cli import live_table

    live = live_comparison(settings, name, version)
    if live is None:
        console.print(f"live traffic: {name}@{version} already answers as production")
        return
    console.print(live_table(live))
    if live["verdict"] == "worse":
        raise fail(f"not promoted: {live['candidate']} is worse than production on live traffic", code=1)
    if require_live and live["verdict"] == "insufficient_data":
        raise fail(f"not promoted: --require-live and {live['reason']}", code=1)


@eval_app.command("curate")
def curate_command(
    ctx: typer.Context,
    out: Path = typer.Option(None, "--out", "-o", help="Review file; default eval/datasets/candidates.jsonl."),
    since: datetime = typer.Option(None, help="Only asks from this time on (ISO date or datetime)."),
    source: str = typer.Option(
        "log", help="Where rated asks come from: log (the ask log), mlflow (thumbs-down traces), or both."
    ),
) -> None:
    """Thumbs-down and poorly grounded questions from the ask log -> candidate golden entries to review.

    Example: `genaiops eval curate --since 2025-01-01 --source both`.
    """
    from eval.curate import curate

    if source not in ("log", "mlflow", "both"):
        raise fail(f"--source must be log, mlflow or both, not {source!r}")
    try:
        report = curate(settings_from(ctx), out, since=since, source=source)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - MLflow unreachable / unreadable: one line, not a traceback
        if source == "log":
            raise
        raise fail(f"cannot read the traces from MLflow ({type(exc).__name__}: {exc}); try --source log") from exc
    console.print(
        f"{report.considered} flagged ask(s): {len(report.added)} new candidate(s), "
        f"{report.duplicates} already in the golden set or the review file -> {report.path}"
    )
    for entry in report.added:
        console.print(f"  {entry['id']} [{', '.join(entry['review']['reasons'])}] {entry['question']}", highlight=False)


def register(app: typer.Typer) -> None:
    """``eval ...``, ``release promote`` and ``report``."""
    app.add_typer(eval_app, name="eval")
    app.add_typer(release_app, name="release")
    app.command("report")(report)
