"""Monitoring page: classic feature drift and prediction mix over windows, RAG signals, eval history.

Each section calls its own endpoint and fails on its own: an API without ``/monitoring/rag``
still shows the classic drift charts, with a message where the RAG charts would be.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from ui import charts
from ui.client import ApiClient
from ui.common import fetch, page_setup

DEFAULT_EVAL_METRICS = ("hit_at_k", "mrr", "grounded_rate")  # shown first: scores in [0, 1], higher is better
STATUS_BADGES = {
    "ok": ":green-badge[ok]",
    "drift": ":red-badge[drift]",
    "regression": ":red-badge[regression]",
    "better": ":green-badge[better]",
    "worse": ":red-badge[worse]",
    "undecided": ":gray-badge[undecided]",
    "insufficient_data": ":gray-badge[not enough asks yet]",
}


def _badge(status: str | None) -> str:
    return STATUS_BADGES.get(status or "", f":gray-badge[{status or 'unknown'}]")


def _chart(title: str, frame: pd.DataFrame, kind: str = "line") -> None:
    st.markdown(f"**{title}**")
    if frame.empty or frame.dropna(how="all").empty:
        st.caption("No data yet.")
    elif kind == "bar":
        st.bar_chart(frame, height=240)
    else:
        _line_chart(frame)


def _line_chart(frame: pd.DataFrame) -> None:
    """One line per column over the windows, with a point per window: a window alone is still seen."""
    long = frame.reset_index().melt(id_vars="window", var_name="series", value_name="value").dropna()
    legend = alt.Legend(orient="bottom", title=None) if frame.shape[1] > 1 else None
    chart = (
        alt.Chart(long)
        .mark_line(point=alt.OverlayMarkDef(size=60, filled=True))
        .encode(
            x=alt.X("window:O", title="window", scale=alt.Scale(domain=list(frame.index))),  # windows without data too
            y=alt.Y("value:Q", title=None),
            color=alt.Color("series:N", legend=legend),
            tooltip=["window", "series", "value"],
        )
    )
    st.altair_chart(chart.properties(height=240), width="stretch")


STRENGTH_TITLE = "drift strength (1 = threshold)"
STRENGTH_CAPTION = (
    "Drift strength: each feature's test score as a multiple of its threshold, so every test reads the same "
    "way: −log10(p-value) ÷ −log10(threshold) for the p-value tests (K-S, chi-square, Z-test), "
    "distance ÷ threshold for distance tests. Above the dashed rule at 1 the feature drifted."
)


def _threshold_rule(axis: str) -> alt.Chart:
    """The dashed rule at strength 1 (the threshold), along ``axis`` ("x" or "y")."""
    rule = alt.Chart(pd.DataFrame({"strength": [1.0]})).mark_rule(color="black", strokeDash=[6, 4])
    return rule.encode(**{axis: alt.X("strength:Q") if axis == "x" else alt.Y("strength:Q")})


def strength_over_windows_chart(frame: pd.DataFrame) -> None:
    """One line per feature: its drift strength in each window, with the threshold as a rule."""
    st.markdown("**Drift strength per feature and window**")
    long = frame.reset_index().melt(id_vars="window", var_name="feature", value_name="strength").dropna()
    if long.empty:
        st.caption("No data yet.")
        return
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("window:O", title="window"),
            y=alt.Y("strength:Q", title="drift strength"),
            color=alt.Color("feature:N", legend=alt.Legend(orient="right", title=None)),
            tooltip=["window", "feature", "strength"],
        )
    )
    st.altair_chart((lines + _threshold_rule("y")).properties(height=260), width="stretch")


def current_window_chart(features: pd.DataFrame) -> None:
    """Each feature's drift strength as a bar (red when drifted) with the threshold as a rule at 1."""
    shown = features.dropna(subset=["strength"])
    if shown.empty:
        st.caption("No data yet.")
        return
    bars = (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", title=None),
            x=alt.X("strength:Q", title=STRENGTH_TITLE),
            color=alt.Color("drifted:N", scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#e45756"])),
            tooltip=["name", "kind", "test", "score", "threshold", "strength", "drifted"],
        )
    )
    st.altair_chart((bars + _threshold_rule("x")).properties(height=240), width="stretch")


def classic_section(api: ApiClient, window: int | None) -> None:
    st.header("Classic model: drift")
    data = fetch(lambda: api.monitoring_classic(window))
    if data is None:
        return
    model = data.get("model") or {}
    current = data.get("current") or {}
    st.markdown(
        f"Status {_badge(data.get('status'))} · model {model.get('name', '?')} v{model.get('version', '?')} · "
        f"{data.get('reference_rows', 0)} reference rows · windows of {data.get('window_size', '?')} predictions"
    )
    if data.get("status") == "no_data" or not data.get("windows"):
        st.info("No predictions logged yet: drift appears once the API has scored a full window of records.")
        return
    left, right = st.columns(2)
    with left:
        _chart("Share of drifted features per window", charts.drift_share_frame(data))
    with right:
        strength_over_windows_chart(charts.feature_score_frame(data))
    latest = charts.latest_features_frame(data)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Current window (#{current.get('index', '?')}): drift test per feature**")
        current_window_chart(latest)
    with right:
        _chart("Prediction distribution per window", charts.prediction_distribution_frame(data), kind="bar")
    st.caption(STRENGTH_CAPTION)
    scores = {
        "score": st.column_config.NumberColumn("score", format="scientific"),
        "strength": st.column_config.NumberColumn("strength", format="%.2f"),
    }
    st.dataframe(latest, hide_index=True, width="stretch", column_config=scores)
    issues = charts.input_issues_frame(data)
    flagged = issues[issues["flagged"]]["feature"].tolist()
    if flagged:
        st.warning(f"Input issues in the current window (unknown categories / invalid numbers): {', '.join(flagged)}")
    if not issues.empty and issues["share"].fillna(0).gt(0).any():
        st.markdown("**Input issues** (left out of, or clipped for, the drift tests)")
        st.dataframe(issues, hide_index=True, width="stretch")
    if data.get("report_uri"):
        st.caption(f"Full drift report: {data['report_uri']}")
    shadow_section(data.get("shadow"), data)


def shadow_section(shadow: dict[str, Any] | None, data: dict[str, Any]) -> None:
    """The challenger scored in shadow: agreement with the champion, per class, and its own drift."""
    st.subheader("Shadow challenger")
    if not shadow:
        st.caption("No challenger in shadow: the registry's `challenger` is the champion (or there is none).")
        return
    queue = shadow.get("queue") or {}
    version = (shadow.get("challenger") or {}).get("version", "?")
    left, middle, right = st.columns(3)
    rate = shadow.get("agreement_rate")
    left.metric("Agreement with the champion", "-" if rate is None else f"{rate:.1%}")
    middle.metric("Records scored in shadow", shadow.get("rows", 0))
    right.metric("Dropped (queue full)", queue.get("dropped", 0))
    drift = shadow.get("drift") or {}
    st.markdown(
        f"Challenger v{version} vs champion v{shadow.get('champion_version') or '?'} · "
        f"challenger's own drift {_badge(drift.get('status'))}"
    )
    per_class = charts.shadow_class_frame(data)
    shown = per_class[["disagreement rate"]] if not per_class.empty else per_class
    _chart("Disagreement rate per class the champion predicted", shown, kind="bar")


def rag_section(api: ApiClient, window: int | None) -> list[dict[str, Any]] | None:
    """The RAG charts; returns the eval history the response carried (None if the call failed)."""
    st.header("RAG chatbot: answers over time")
    data = fetch(lambda: api.monitoring_rag(window))
    if data is None:
        return None
    st.markdown(f"Status {_badge(data.get('status'))} · windows of {data.get('window_size', '?')} questions")
    signals = charts.rag_signals_frame(data)
    if data.get("status") == "no_data" or signals.empty:
        st.info("No questions logged yet: ask some in the Chat page.")
    else:
        left, right = st.columns(2)
        with left:
            _chart("Mean top retrieval score", signals[["mean_top_score"]])
            st.caption("Best score of the sources an answer kept: a refusal keeps none, so it adds no point.")
            _chart("Negative feedback rate", signals[["negative_feedback_rate"]])
        with right:
            _chart("Answer modes", charts.rag_modes_frame(data), kind="bar")
            _chart("Latency p95 (ms)", signals[["latency_p95_ms"]])
    checks = data.get("checks") or []
    if checks:
        st.markdown("**Regression checks** (current window against the reference)")
        st.dataframe(pd.DataFrame(checks), hide_index=True, width="stretch")
    canary_section(data)
    return data.get("eval_history") or []


def canary_section(data: dict[str, Any]) -> None:
    """Recent asks split by prompt version, and the candidate's verdict against production."""
    versions = charts.prompt_versions_frame(data)
    if versions.empty:
        return
    st.markdown("**Recent asks by prompt version**")
    st.dataframe(versions, hide_index=True, width="stretch")
    canary = data.get("canary")
    if not canary:
        st.caption("No `candidate` prompt in the registry: no canary running.")
        return
    asks = canary.get("asks") or {}
    st.markdown(
        f"Canary {canary.get('candidate')} ({asks.get('candidate', 0)} asks) vs {canary.get('production')} "
        f"({asks.get('production', 0)} asks): {_badge(canary.get('verdict'))} · {canary.get('reason', '')}"
    )
    tests = charts.canary_tests_frame(data)
    if not tests.empty:
        st.dataframe(tests, hide_index=True, width="stretch")


RUN_TIME_AXIS = alt.Axis(format="%d %b %H:%M:%S", tickCount=4, labelAngle=0)


def _score_scale(values: pd.Series) -> alt.Scale:
    """Scores in [0, 1] on their whole range (a flat 0.5 is not a top score); other metrics fit their values."""
    return alt.Scale(domain=[0, 1]) if values.between(0, 1).all() else alt.Scale(zero=False)


def eval_history(runs: list[dict[str, Any]]) -> None:
    st.header("Evaluation scores per prompt version")
    frame = charts.eval_history_frame(runs)
    if frame.empty:
        st.info("No evaluation run recorded yet: run `genaiops eval rag`.")
        return
    metrics = sorted(frame["metric"].unique())
    default = next((metrics.index(m) for m in DEFAULT_EVAL_METRICS if m in metrics), 0)
    metric = st.selectbox("Metric", metrics, index=default, key="eval_metric")
    chosen = frame[frame["metric"] == metric]
    chart = (
        alt.Chart(chosen)
        .mark_line(point=alt.OverlayMarkDef(size=90, filled=True))
        .encode(
            x=alt.X("time:T", title="run", scale=alt.Scale(padding=40), axis=RUN_TIME_AXIS),
            y=alt.Y("value:Q", title=metric, scale=_score_scale(chosen["value"])),
            color=alt.Color("prompt:N", title="prompt version"),
            tooltip=["prompt", "value", "time", "run_id"],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")


def window_input(label: str, help_text: str) -> int | None:
    """A sidebar window size; empty = the API's default (``monitoring.window``)."""
    value = st.sidebar.number_input(label, min_value=10, value=None, step=10, placeholder="API default", help=help_text)
    return int(value) if value else None


client = page_setup("Monitoring", "📈")
st.title("Monitoring")
# predictions and questions come at very different rates: each side has its own window size
classic_window = window_input("Predictions per window", "Logged /predict records per drift window")
rag_window = window_input("Questions per window", "Logged /ask answers per RAG window")
classic_section(client, classic_window)
st.divider()
history = rag_section(client, rag_window)
st.divider()
if history is None:  # no /monitoring/rag: the evaluation runs have their own endpoint
    history = fetch(lambda: client.eval_runs(200))
if history is not None:
    eval_history(history)
