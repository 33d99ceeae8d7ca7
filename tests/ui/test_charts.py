"""The shaping of monitoring and eval responses for the charts (pure functions, no browser)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ui import charts


def feature(name: str, test: str, score: float | None, threshold: float = 0.05, drifted: bool = False) -> dict:
    return {"name": name, "kind": "numeric", "test": test, "score": score, "threshold": threshold, "drifted": drifted}


def test_drift_strength_puts_p_values_and_distances_on_one_readable_axis() -> None:
    # p-value tests: 1 at the threshold, a tiny drifted p-value is a large number, not a bar of width 1e-10
    assert charts.drift_strength(feature("a", "K-S p_value", 0.05)) == pytest.approx(1.0)
    drifted = charts.drift_strength(feature("a", "K-S p_value", 1e-10, drifted=True))
    assert drifted == pytest.approx(10 / -math.log10(0.05), rel=1e-3) and drifted > 7
    calm = charts.drift_strength(feature("a", "chi-square p_value", 0.6))
    assert calm is not None and 0 < calm < 1
    assert charts.drift_strength(feature("a", "Z-test p_value", 0.0, drifted=True)) == pytest.approx(
        300 / -math.log10(0.05), rel=1e-3
    )  # an underflowed p-value stays finite
    # distance tests drift above their threshold: distance / threshold
    assert charts.drift_strength(feature("b", "Wasserstein distance (normed)", 0.25, threshold=0.1)) == 2.5
    assert charts.drift_strength(feature("b", "Jensen-Shannon distance", 0.05, threshold=0.1)) == 0.5
    # nothing to say without a score or a threshold
    assert charts.drift_strength(feature("c", "K-S p_value", None)) is None
    assert charts.drift_strength(feature("c", "K-S p_value", 0.3, threshold=0)) is None


def test_the_verdict_and_the_strength_agree_for_every_test_kind() -> None:
    """Above 1 exactly when Evidently's rule says drifted (p < threshold, or distance > threshold)."""
    for test, threshold in (("K-S p_value", 0.05), ("PSI", 0.1), ("Hellinger distance", 0.1)):
        for score in (1e-12, 0.01, 0.04, 0.06, 0.09, 0.11, 0.5, 0.9):
            drifted = score > threshold if charts.is_distance_test(test) else score < threshold
            strength = charts.drift_strength(feature("x", test, score, threshold))
            assert strength is not None and (strength > 1) == drifted, (test, score, strength)


def test_frames_of_a_classic_summary() -> None:
    windows = [
        {"index": 3, "share_drifted": 0.0, "prediction_distribution": {"Adelie": 1.0},
         "features": [feature("bill", "K-S p_value", 0.5)]},
        {"index": 4, "share_drifted": 0.5, "prediction_distribution": {"Adelie": 0.25, "Gentoo": 0.75},
         "features": [feature("bill", "K-S p_value", 1e-8, drifted=True)]},
    ]  # fmt: skip
    summary = {"windows": windows, "current": windows[-1]}
    strength = charts.feature_score_frame(summary)
    assert list(strength.index) == [3, 4] and strength.loc[4, "bill"] > 1 > strength.loc[3, "bill"]
    latest = charts.latest_features_frame(summary)
    assert list(latest.columns) == ["name", "kind", "test", "score", "threshold", "drifted", "strength"]
    assert latest.loc[0, "strength"] == strength.loc[4, "bill"]
    mix = charts.prediction_distribution_frame(summary)
    assert mix.loc[3].to_dict() == {"Adelie": 1.0, "Gentoo": 0.0}  # a class absent from a window is a 0 share
    assert charts.drift_share_frame(summary)["share drifted"].tolist() == [0.0, 0.5]
    assert charts.feature_score_frame({"windows": []}).empty


def test_eval_scores_leave_durations_and_counts_out_of_the_score_chart() -> None:
    runs = [
        {"run_id": "r2", "start_time": 1_700_000_100_000, "prompt": "rag_answer@2",
         "metrics": {"hit_at_k": 0.8, "latency_p95_ms": 2100.0, "nan_faithfulness": 1.0, "eval_seconds": 95.0}},
        {"run_id": "r1", "start_time": 1_700_000_000_000, "prompt": "rag_answer@1", "metrics": {"hit_at_k": 0.6}},
    ]  # fmt: skip
    frame = charts.eval_history_frame(runs)
    assert len(frame) == 5 and frame["time"].min() == pd.Timestamp(1_700_000_000_000, unit="ms", tz="UTC")
    scores = charts.score_rows(frame)
    assert sorted(zip(scores["prompt"], scores["value"], strict=True)) == [("rag_answer@1", 0.6), ("rag_answer@2", 0.8)]
    assert sorted(["10", "9", "2"], key=charts.version_key) == ["2", "9", "10"]


def test_frames_of_the_closed_loop_sections() -> None:
    """Input issues, the shadow challenger and the prompt canary of issue 15, as the page draws them."""
    classic = {
        "current": {"input_issues": {"unknown_category_share": {"island": 0.5, "sex": 0.0},
                                     "invalid_number_share": {"body_mass_g": 0.0}, "threshold": 0.1,
                                     "flagged": ["island"]}},
        "shadow": {"per_class": {"Adelie": {"rows": 6, "disagreement_rate": 0.5, "challenger_said": {"Gentoo": 3}},
                                 "Gentoo": {"rows": 4, "disagreement_rate": 0.0, "challenger_said": {}}}},
    }  # fmt: skip
    issues = charts.input_issues_frame(classic)
    assert issues.to_dict("records")[0] == {"feature": "island", "issue": "unknown categories", "share": 0.5,
                                            "flagged": True}  # fmt: skip
    assert list(issues["feature"]) == ["island", "sex", "body_mass_g"] and issues["flagged"].sum() == 1
    per_class = charts.shadow_class_frame(classic)
    assert per_class.loc["Adelie", "disagreement rate"] == 0.5 and per_class.loc["Gentoo", "rows"] == 4
    assert charts.shadow_class_frame({}).empty and charts.input_issues_frame(None).empty

    rag = {
        "prompt_versions": [{"prompt": "rag_answer@1", "asks": 40, "refusal_rate": 0.1},
                            {"prompt": "rag_answer@2", "asks": 40, "refusal_rate": 0.6}],
        "canary": {"tests": [{"signal": "refusal_rate", "production": 0.1, "candidate": 0.6, "test": "fisher_exact",
                              "p_value": 1e-6, "direction": "worse", "significant": True}]},
    }  # fmt: skip
    versions = charts.prompt_versions_frame(rag)
    assert list(versions["prompt"]) == ["rag_answer@1", "rag_answer@2"] and versions["grounded_rate"].isna().all()
    assert charts.canary_tests_frame(rag).iloc[0]["direction"] == "worse"
    assert charts.canary_tests_frame({"canary": None}).empty
