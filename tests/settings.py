"""The one way tests build settings: every piece of state under one folder, no developer ``.env`` read.

``make_settings(data_dir, llm={"max_tokens": 32})``: a section given as a dict changes only the fields it
names. Helpers that need more (the shared GGUF cache, short answers) call this with their overrides; a
variant of existing settings is ``settings.model_copy(update=...)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from genaiops.settings import Settings


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Test settings with all state under ``data_dir`` (its folders created)."""
    settings = Settings(_env_file=None, env="test", data_dir=data_dir, **overrides)  # type: ignore[call-arg]
    settings.ensure_dirs()
    return settings


def llm_cache_dir(factory: pytest.TempPathFactory) -> Path:
    """The one model cache of this test session: the 491 MB GGUF is assembled and hashed once.

    A fixed folder under the session's base temp dir, so every test module (and a CLI subprocess)
    that asks for it gets the same verified file.
    """
    path = factory.getbasetemp() / "llm-cache"
    path.mkdir(exist_ok=True)
    return path
