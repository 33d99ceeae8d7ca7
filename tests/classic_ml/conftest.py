"""Classic-model fixtures: the penguins model trained once per session into a real MLflow (sqlite)."""

from __future__ import annotations

import pytest

from classic_ml.pipeline import TrainingResult
from genaiops.settings import Settings
from tests.classic_ml.helpers import trained_penguins


@pytest.fixture(scope="session")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, TrainingResult]:
    """(settings of the registry, result of training the default config)."""
    return trained_penguins(tmp_path_factory)
