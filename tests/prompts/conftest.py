"""Prompt fixtures: a private copy of the committed templates, free to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prompts.loader import TEMPLATES_DIR


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, folder)
    return folder
