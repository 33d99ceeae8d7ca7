"""Prompts & eval page: the versions of each prompt with their aliases, a diff of two versions, their scores.

Scores come from ``GET /eval/runs`` (MLflow runs that name the ``prompt@version`` they evaluated),
so each version shows the evaluations it went through.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from ui import charts
from ui.client import ApiClient
from ui.common import fetch, page_setup


def versions_frame(prompt: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "version": str(v.get("version")),
            "aliases": ", ".join(v.get("aliases") or []),
            "commit": (v.get("commit") or "")[:10],
            "created": charts.to_time(v.get("created")),
        }
        for v in prompt.get("versions") or []
    ]
    return pd.DataFrame(rows, columns=["version", "aliases", "commit", "created"])


def diff_section(api: ApiClient, prompt: dict[str, Any]) -> None:
    versions = sorted((str(v.get("version")) for v in prompt.get("versions") or []), key=charts.version_key)
    st.subheader("Diff between two versions")
    if len(versions) < 2:
        st.info(f"{prompt['name']} has a single version: nothing to compare yet.")
        return
    left, right = st.columns(2)
    v1 = left.selectbox("From version", versions, index=len(versions) - 2, key=f"v1_{prompt['name']}")
    v2 = right.selectbox("To version", versions, index=len(versions) - 1, key=f"v2_{prompt['name']}")
    result = fetch(lambda: api.prompt_diff(prompt["name"], v1, v2))
    if result is not None:
        st.code(result.get("diff") or "(the two versions are identical)", language="diff")


def scores_section(runs: list[dict[str, Any]] | None, name: str) -> None:
    st.subheader("Evaluation scores")
    if runs is None:
        return
    frame = charts.eval_history_frame([r for r in runs if str(r.get("prompt", "")).startswith(f"{name}@")])
    if frame.empty:
        st.info(f"No evaluation run of {name} yet: run `genaiops eval rag`.")
        return
    latest = frame.sort_values("time").groupby(["prompt", "metric"], as_index=False).last()
    table = latest.pivot(index="prompt", columns="metric", values="value")
    scores = charts.score_rows(latest)
    st.caption("Latest run of each version: the scores in [0, 1] (latencies and counts are in the table)")
    height = 40 + 22 * max(1, len(scores))
    st.bar_chart(scores, x="metric", y="value", color="prompt", stack=False, horizontal=True, height=height)
    st.dataframe(table, width="stretch")
    with st.expander(f"All {frame['run_id'].nunique()} runs"):
        st.dataframe(frame, hide_index=True, width="stretch")


def template_section(prompt: dict[str, Any]) -> None:
    versions = prompt.get("versions") or []
    if not versions:
        return
    with st.expander("Template of a version"):
        labels = [str(v.get("version")) for v in versions]
        chosen = st.selectbox("Version", labels, index=0, key=f"tpl_{prompt['name']}")  # newest first
        template = next(v for v in versions if str(v.get("version")) == chosen).get("template", "")
        st.code(template, language="text")


client = page_setup("Prompts & eval", "🧪")
st.title("Prompts & evaluation")
prompts = fetch(client.prompts)
if not prompts:
    if prompts == []:
        st.info("No prompt is registered yet: run `genaiops prompts push`.")
    st.stop()
names = [p["name"] for p in prompts]
name = st.selectbox("Prompt", names)
selected = next(p for p in prompts if p["name"] == name)
st.caption(f"source: {selected.get('source', '?')}")
st.dataframe(versions_frame(selected), hide_index=True, width="stretch")
template_section(selected)
diff_section(client, selected)
scores_section(fetch(lambda: client.eval_runs(200)), name)
