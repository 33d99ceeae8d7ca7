"""The classic model from the command line: ``train``, ``predict``, ``validate``, ``monitor classic``, ``retrain``.

``monitor classic`` exits 1 when the current window drifted (0 when fine or without data yet), so it can
run from cron or CI as an alert; errors follow ``genaiops.cli.fail`` (one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from genaiops.cli import fail, fmt, monitor_app, quiet_mlflow, report_monitor, settings_from

console = Console(soft_wrap=True)  # long paths and reasons stay on one line (greppable)


def _summary(result) -> None:  # type: ignore[no-untyped-def]
    """Metrics, the registered version and the champion decision of one training."""
    report = result.report
    dropped = len(report.bad_rows)
    console.print(
        f"data: {result.n_train} training rows, {result.n_holdout} holdout rows"
        + (f", {dropped} invalid row(s) dropped" if dropped else ", no invalid rows")
    )
    table = Table(title=f"{result.config.name}: {result.config.estimator.import_path}")
    for column in ("metric", "cross-validation", "holdout"):
        table.add_column(column)
    for name in result.config.metrics:
        mean, std = result.cv_metrics[f"cv_{name}_mean"], result.cv_metrics[f"cv_{name}_std"]
        table.add_row(name, f"{mean:.4f} ± {std:.4f}", f"{result.holdout_metrics[f'holdout_{name}']:.4f}")
    console.print(table)
    reg, decision = result.registration, result.registration.decision
    console.print(f"registered: {reg.model_name} v{reg.version} (run {reg.run_id}), alias challenger")
    champion = "none" if decision.champion_score is None else f"{decision.champion_score:.4f}"
    colour = "green" if decision.promoted else "yellow"
    verdict = f"[{colour}]{decision.verdict if decision.promoted else 'not promoted'}[/{colour}]"
    console.print(
        f"gate on {decision.metric}: challenger {decision.challenger_score:.4f} vs champion {champion}"
        f" (v{decision.champion_version or '-'}) -> {verdict}: {decision.reason}"
    )


# -- genaiops monitor classic, genaiops retrain -----------------------------------------------------------
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

    quiet_mlflow()
    settings = settings_from(ctx)
    try:
        summary = classic_drift(settings, window=window, period=period)
    except NoReferenceError as exc:
        raise fail(str(exc)) from exc
    except ValueError as exc:  # a bad --period
        raise fail(f"--period {period!r}: {exc}") from exc
    summary["shadow"] = _shadow(settings, summary["model"]["version"], window)
    report_monitor(summary, as_json, _print_classic, alarm="drift")


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
        f"record(s): agreement {fmt(shadow['agreement_rate'])}"
    )
    for label, c in shadow["per_class"].items():
        console.print(f"  champion said {label}: {c['rows']} row(s), challenger disagreed on "
                      f"{fmt(c['disagreement_rate'])} {c['challenger_said'] or ''}")  # fmt: skip
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
        table.add_row(f["name"], f["kind"], str(f["test"]), fmt(f["score"]), fmt(f["threshold"]), drifted)
    console.print(table)
    console.print(f"predictions: {current['prediction_distribution']}   report: {summary['report_uri']}")
    issues = current.get("input_issues") or {}
    if issues.get("flagged"):
        console.print(f"[red]input issues[/red] above {issues['threshold']:g} on {', '.join(issues['flagged'])}: "
                      f"unknown categories {issues['unknown_category_share']}, "
                      f"invalid numbers {issues['invalid_number_share']}", highlight=False)  # fmt: skip
    _print_shadow(summary.get("shadow"))


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

    quiet_mlflow()
    try:
        with console.status("checking drift / retraining"):
            outcome = retrain(settings_from(ctx), if_drift=if_drift, labels=labels, window=window, config=config)
    except (NoReferenceError, RetrainError) as exc:
        raise fail(str(exc)) from exc
    console.print(outcome.reason, highlight=False)


def register(app: typer.Typer) -> None:
    """``train``, ``predict``, ``validate`` and ``retrain`` (``monitor classic`` is on ``genaiops.cli.monitor_app``)."""

    @app.command()
    def train(
        ctx: typer.Context,
        config: Path = typer.Option(
            None, "--config", "-c", help="Training YAML; default settings classic.config_path."
        ),
    ) -> None:
        """Validate, preprocess, train, evaluate and register a model (e.g. `genaiops train --config my.yaml`)."""
        from classic_ml.config import ConfigError
        from classic_ml.pipeline import run_training
        from classic_ml.validate import InvalidDataError

        settings = settings_from(ctx)
        quiet_mlflow()
        with console.status("training") as status:
            try:
                result = run_training(settings, config, on_step=lambda step: status.update(f"training: {step}"))
            except (ConfigError, InvalidDataError) as exc:
                raise fail(str(exc)) from exc
        _summary(result)

    @app.command()
    def predict(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="CSV or Parquet file with the model's feature columns."),
        out: Path = typer.Option(None, "--out", "-o", help="Output CSV; default FILE.predictions.csv."),
        chunk_rows: int = typer.Option(50_000, min=1, help="Rows scored per chunk."),
    ) -> None:
        """Score a file with the champion (e.g. `genaiops predict penguins.csv --out scored.csv`)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from classic_ml.batch import count_rows, default_out, load_model_for_batch, score_file
        from classic_ml.config import ConfigError

        settings = settings_from(ctx)
        if not file.is_file():
            raise fail(f"input file not found: {file}")
        quiet_mlflow()
        target = out or default_out(file)
        columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            model = load_model_for_batch(settings)
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("rows", total=count_rows(file))
                summary = score_file(
                    model, file, target, chunk_rows=chunk_rows, on_chunk=lambda n: progress.advance(task, n)
                )
        except ConfigError as exc:
            raise fail(str(exc)) from exc
        console.print(
            f"{summary.rows} rows scored with {summary.model} in {summary.seconds:.2f}s "
            f"({summary.rows_per_s:,.0f} rows/s) -> {summary.out}"
        )
        if summary.rows_with_unknown or summary.rows_with_issues:
            console.print(
                f"[yellow]{summary.rows_with_unknown} row(s) with unknown categories, "
                f"{summary.rows_with_issues} with other issues[/yellow] (see the columns of {summary.out.name})"
            )

    @app.command()
    def validate(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="CSV or Parquet file to check."),
        config: Path = typer.Option(
            None, "--config", "-c", help="Check the training contract of this config instead of the champion's schema."
        ),
        limit: int = typer.Option(20, min=1, help="Problems listed."),
    ) -> None:
        """Report rows that break the champion's schema (e.g. `genaiops validate new_rows.csv`); exit 1 if any."""
        from classic_ml.batch import load_model_for_batch
        from classic_ml.config import ConfigError, load_config
        from classic_ml.data import read_table
        from classic_ml.schema import contract_schema, detect_task, feature_kinds
        from classic_ml.validate import validate as check

        settings = settings_from(ctx)
        quiet_mlflow()
        try:
            df = read_table(file)
            if config is not None:
                cfg = load_config(config)
                has_target = cfg.target in df.columns
                task = detect_task(df[cfg.target].dropna(), cfg) if has_target else "classification"
                schema = contract_schema(cfg, feature_kinds(df, cfg), task)
                report = check(df, schema, with_target=has_target)
            else:
                report = check(df, load_model_for_batch(settings).schema)
        except ConfigError as exc:
            raise fail(str(exc)) from exc
        console.print(report.summary(limit), highlight=False)
        if not report.ok:
            raise typer.Exit(1)

    app.command("retrain")(retrain_command)
