"""``genaiops train``, ``genaiops predict`` and ``genaiops validate``: the classic model from the command line.

(``retrain`` is left to the monitoring side, which calls ``classic_ml.pipeline.run_training``.)
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)  # long paths and reasons stay on one line (greppable)
log = logging.getLogger(__name__)


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _quiet_mlflow() -> None:
    """No per-file download bars from MLflow in terminal output (a CLI process setting, not global config)."""
    from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)


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


def register(app: typer.Typer) -> None:
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
        from genaiops.cli import settings_from

        settings = settings_from(ctx)
        _quiet_mlflow()
        with console.status("training") as status:
            try:
                result = run_training(settings, config, on_step=lambda step: status.update(f"training: {step}"))
            except (ConfigError, InvalidDataError) as exc:
                raise _fail(str(exc)) from exc
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
        from genaiops.cli import settings_from

        settings = settings_from(ctx)
        if not file.is_file():
            raise _fail(f"input file not found: {file}")
        _quiet_mlflow()
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
            raise _fail(str(exc)) from exc
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
        from genaiops.cli import settings_from

        settings = settings_from(ctx)
        _quiet_mlflow()
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
            raise _fail(str(exc)) from exc
        console.print(report.summary(limit), highlight=False)
        if not report.ok:
            raise typer.Exit(1)
