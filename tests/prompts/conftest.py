"""Prompt fixtures: a private copy of the committed templates, free to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from prompts.loader import TEMPLATES_DIR

# A wording change of the committed prompt: tests register it as a new version.
EDIT = ("in one or two short sentences", "in at most three short sentences")


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, folder)
    return folder
