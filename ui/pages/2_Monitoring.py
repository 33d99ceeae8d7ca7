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

STATUS_BADGES = {"ok": ":green-badge[ok]", "drift": ":red-badge[drift]", "regression": ":red-badge[regression]"}


def _badge(status: str | None) -> str:
    return STATUS_BADGES.get(status or "", f":gray-badge[{status or 'unknown'}]")


def _chart(title: str, frame: pd.DataFrame, kind: str = "line") -> None:
    st.markdown(f"**{title}**")
    if frame.empty or frame.dropna(how="all").empty:
        st.caption("No data yet.")
    elif kind == "bar":
        st.bar_chart(frame, height=240)
    else:
        st.line_chart(frame, height=240)


def current_window_chart(features: pd.DataFrame) -> None:
    """Each feature's test score as a bar (red when drifted) with its threshold as a tick."""
    if features.empty:
        st.caption("No data yet.")
        return
    base = alt.Chart(features).encode(y=alt.Y("name:N", title=None))
    bars = base.mark_bar().encode(
        x=alt.X("score:Q", title="test score (p-value: drifted below the threshold)"),
        color=alt.Color("drifted:N", scale=alt.Scale(domain=[False, True], range=["#4c78a8", "#e45756"])),
        tooltip=["name", "kind", "test", "score", "threshold", "drifted"],
    )
    ticks = base.mark_tick(color="black", thickness=2, size=18).encode(x="threshold:Q")
    st.altair_chart((bars + ticks).properties(height=240), width="stretch")


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
        _chart("Drift test score per feature (p-value)", charts.feature_score_frame(data))
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Current window (#{current.get('index', '?')}): drift test per feature**")
        current_window_chart(charts.latest_features_frame(data))
    with right:
        _chart("Prediction distribution per window", charts.prediction_distribution_frame(data), kind="bar")
    st.dataframe(charts.latest_features_frame(data), hide_index=True, width="stretch")
    if data.get("report_uri"):
        st.caption(f"Full drift report: {data['report_uri']}")


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
            _chart("Negative feedback rate", signals[["negative_feedback_rate"]])
        with right:
            _chart("Answer modes", charts.rag_modes_frame(data), kind="bar")
            _chart("Latency p95 (ms)", signals[["latency_p95_ms"]])
    checks = data.get("checks") or []
    if checks:
        st.markdown("**Regression checks** (current window against the reference)")
        st.dataframe(pd.DataFrame(checks), hide_index=True, width="stretch")
    return data.get("eval_history") or []


def eval_history(runs: list[dict[str, Any]]) -> None:
    st.header("Evaluation scores per prompt version")
    frame = charts.eval_history_frame(runs)
    if frame.empty:
        st.info("No evaluation run recorded yet: run `genaiops eval rag`.")
        return
    metric = st.selectbox("Metric", sorted(frame["metric"].unique()), key="eval_metric")
    chosen = frame[frame["metric"] == metric]
    chart = (
        alt.Chart(chosen)
        .mark_line(point=True)
        .encode(
            x=alt.X("time:T", title="run"),
            y=alt.Y("value:Q", title=metric),
            color=alt.Color("prompt:N", title="prompt version"),
            tooltip=["prompt", "value", "time", "run_id"],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")


client = page_setup("Monitoring", "📈")
st.title("Monitoring")
window_size = st.sidebar.number_input(
    "Window size", min_value=10, value=None, step=10, placeholder="API default", help="Rows (or questions) per window"
)
classic_section(client, int(window_size) if window_size else None)
st.divider()
history = rag_section(client, int(window_size) if window_size else None)
st.divider()
if history is None:  # no /monitoring/rag: the evaluation runs have their own endpoint
    history = fetch(lambda: client.eval_runs(200))
if history is not None:
    eval_history(history)
