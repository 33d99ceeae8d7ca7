"""``genaiops monitor classic|rag``, ``genaiops retrain`` and ``genaiops eval curate``.

The monitors exit 1 when they find drift / a regression (0 when fine or without data yet), so
they can run from cron or CI as alerts; a problem the user can fix exits 2 with one line.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
monitor_app = typer.Typer(help="Drift of the classic model and quality of the RAG, from the request logs.")


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(2)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 else f"{value:.3f}"
    return str(value)


def _quiet_mlflow() -> None:
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)


@monitor_app.command("classic")
def monitor_classic(
    ctx: typer.Context,
    window: int = typer.Option(None, min=10, help="Predictions per window; default settings monitoring.window."),
    period: str = typer.Option(None, help="Windows by time instead, a pandas frequency: 1h, 30min, 1D."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (the /monitoring/classic body)."),
) -> None:
    """Input drift of the logged predictions vs the training sample; exit 1 on drift.

    Example: `genaiops monitor classic --window 200` (the HTML report goes to MLflow, experiment monitoring).
    """
    from classic_ml.drift import NoReferenceError, classic_drift
    from genaiops.cli import settings_from

    _quiet_mlflow()
    settings = settings_from(ctx)
    try:
        summary = classic_drift(settings, window=window, period=period)
    except NoReferenceError as exc:
        raise _fail(str(exc)) from exc
    except ValueError as exc:  # a bad --period
        raise _fail(f"--period {period!r}: {exc}") from exc
    summary["shadow"] = _shadow(settings, summary["model"]["version"], window)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_classic(summary)
    if summary["status"] == "drift":
        raise typer.Exit(1)


def _shadow(settings: Any, champion_version: str, window: int | None) -> dict[str, Any] | None:
    """The shadow section, with the registry's challenger (when it is another version than the champion)."""
    from classic_ml.registry import NoModelError, RegistryUnavailableError, load_registered
    from classic_ml.shadow import shadow_summary

    try:
        challenger = load_registered(settings, "challenger")
    except (NoModelError, RegistryUnavailableError):
        challenger = None
    if challenger is not None and str(challenger.version) == str(champion_version):
        challenger = None
    return shadow_summary(settings, challenger, window=window)


def _print_shadow(shadow: dict[str, Any] | None) -> None:
    if not shadow:
        return
    champion = shadow["champion_version"] or "?"
    console.print(
        f"shadow: challenger v{shadow['challenger']['version']} vs champion v{champion} on {shadow['rows']} "
        f"record(s): agreement {_fmt(shadow['agreement_rate'])}"
    )
    for label, c in shadow["per_class"].items():
        console.print(f"  champion said {label}: {c['rows']} row(s), challenger disagreed on "
                      f"{_fmt(c['disagreement_rate'])} {c['challenger_said'] or ''}")  # fmt: skip
    drift = shadow.get("drift")
    if drift:
        current = drift["current"]
        console.print(f"  challenger's own drift: {drift['status']} (drifted share {current['share_drifted']:.2f})")


def _print_classic(summary: dict[str, Any]) -> None:
    model = summary["model"]
    console.print(
        f"model {model['name']} v{model['version']}, reference {summary['reference_rows']} rows, "
        f"{len(summary['windows'])} window(s) of {summary['window_size']}: status [bold]{summary['status']}[/bold]"
    )
    for w in summary["windows"]:
        flag = "[red]drift[/red]" if w["drift_detected"] else "ok"
        console.print(f"  window {w['index']}: {w['rows']} rows {w['start'][:19]} .. {w['end'][:19]}, "
                      f"drifted share {w['share_drifted']:.2f} {flag}")  # fmt: skip
    current = summary["current"]
    if current is None:
        console.print("no window yet: send traffic to POST /predict")
        return
    table = Table(title=f"current window {current['index']}")
    for column in ("feature", "kind", "test", "score", "threshold", "drifted"):
        table.add_column(column)
    rows = [*current["features"]]
    if current.get("prediction_drift"):
        rows.append({"name": "(prediction)", "kind": "-", **current["prediction_drift"]})
    for f in rows:
        drifted = "[red]yes[/red]" if f["drifted"] else "no"
        table.add_row(f["name"], f["kind"], str(f["test"]), _fmt(f["score"]), _fmt(f["threshold"]), drifted)
    console.print(table)
    console.print(f"predictions: {current['prediction_distribution']}   report: {summary['report_uri']}")
    issues = current.get("input_issues") or {}
    if issues.get("flagged"):
        console.print(f"[red]input issues[/red] above {issues['threshold']:g} on {', '.join(issues['flagged'])}: "
                      f"unknown categories {issues['unknown_category_share']}, "
                      f"invalid numbers {issues['invalid_number_share']}", highlight=False)  # fmt: skip
    _print_shadow(summary.get("shadow"))


@monitor_app.command("rag")
def monitor_rag(
    ctx: typer.Context,
    window: int = typer.Option(None, min=10, help="Asks per window; default settings monitoring.window."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (the /monitoring/rag body)."),
) -> None:
    """RAG quality of the latest asks vs the first window; exit 1 on a regression (cron / CI alert).

    Example: `genaiops monitor rag --window 50 || notify-team`.
    """
    from genaiops.cli import settings_from
    from rag.monitoring import rag_summary

    summary = rag_summary(settings_from(ctx), window=window)
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_rag(summary)
    if summary["status"] == "regression":
        raise typer.Exit(1)


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
        table.add_row(c["name"], _fmt(c["reference"]), _fmt(c["current"]), _fmt(c["threshold"]), status)
    if summary["checks"]:
        console.print(table)
    _print_versions(summary)
    history = summary["eval_history"]
    if history:
        last = history[-1]
        before = history[-2]["metrics"] if len(history) > 1 else {}
        trend = ", ".join(
            f"{k} {_fmt(v)}" + (f" ({v - before[k]:+.3f})" if k in before else "")
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
            table.add_row(v["prompt"], *(_fmt(v[c]) for c in columns))
        console.print(table)
    canary = summary.get("canary")
    if canary:
        from eval.cli import live_table

        console.print(live_table(canary))


def retrain_command(
    ctx: typer.Context,
    if_drift: bool = typer.Option(True, "--if-drift/--always", help="Only when the current window drifted."),
    labels: Path = typer.Option(
        None, "--labels", help="CSV of labels joined to the prediction log: request_id, <target> (or label), row_index."
    ),
    window: int = typer.Option(None, min=10, help="Predictions per drift window; default settings monitoring.window."),
    config: Path = typer.Option(None, "--config", "-c", help="Training YAML; default settings classic.config_path."),
) -> None:
    """Retrain on the training data + labelled recent traffic when inputs drifted; the new model goes
    through the champion/challenger gate. Example: `genaiops retrain --if-drift --labels labels.csv`."""
    from classic_ml.drift import NoReferenceError
    from classic_ml.retrain import RetrainError, retrain
    from genaiops.cli import settings_from

    _quiet_mlflow()
    try:
        with console.status("checking drift / retraining"):
            outcome = retrain(settings_from(ctx), if_drift=if_drift, labels=labels, window=window, config=config)
    except (NoReferenceError, RetrainError) as exc:
        raise _fail(str(exc)) from exc
    console.print(outcome.reason, highlight=False)


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
    from genaiops.cli import settings_from

    if source not in ("log", "mlflow", "both"):
        raise _fail(f"--source must be log, mlflow or both, not {source!r}")
    try:
        report = curate(settings_from(ctx), out, since=since, source=source)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - MLflow unreachable / unreadable: one line, not a traceback
        if source == "log":
            raise
        raise _fail(f"cannot read the traces from MLflow ({type(exc).__name__}: {exc}); try --source log") from exc
    console.print(
        f"{report.considered} flagged ask(s): {len(report.added)} new candidate(s), "
        f"{report.duplicates} already in the golden set or the review file -> {report.path}"
    )
    for entry in report.added:
        console.print(f"  {entry['id']} [{', '.join(entry['review']['reasons'])}] {entry['question']}", highlight=False)


def register(app: typer.Typer) -> None:
    from eval.cli import eval_app

    app.add_typer(monitor_app, name="monitor")
    app.command("retrain")(retrain_command)
    eval_app.command("curate")(curate_command)
