"""The traffic simulator (``python -m bench.traffic``), the demo behind the Monitoring page, on a live API.

(tests/app/test_monitoring_api.py runs its /predict phases alone and its loopback-only guard.)

All four phases through the real API: calm then shifted penguins to ``/predict``, golden questions (answered
by a ``FakeChatModel``: the monitors read retrieval, modes and feedback, not the wording) then off-topic ones
rated down to ``/ask``; the monitors must go from ``ok`` to firing.
"""

from __future__ import annotations

import pytest

from bench import traffic
from tests.ui.helpers import MAX_BATCH, LiveApi


@pytest.mark.slow
def test_the_simulator_makes_both_monitors_fire(live_api: LiveApi) -> None:
    with traffic.loopback_client(live_api.url) as client:
        result = traffic.run_traffic(client, predictions=60, asks=20, batch=MAX_BATCH)
    assert result["classic_after_calm"].startswith("ok"), result
    assert result["classic_after_drift"].startswith("drift ("), result
    for moved in traffic.SHIFT:
        assert moved in result["classic_after_drift"], result
    assert result["rag_after_off_topic"].startswith("regression ("), result
    assert len(result["labels"]) == 30 and {row["species"] for row in result["labels"]} <= {
        "Adelie", "Chinstrap", "Gentoo"
    }  # fmt: skip


@pytest.mark.parametrize("args", [["--predictions", "-1"], ["--asks", str(traffic.MAX_ASKS + 1)], ["--batch", "0"]])
def test_the_simulator_bounds_its_counts(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        traffic.main(args)
    assert exit_info.value.code == 2
