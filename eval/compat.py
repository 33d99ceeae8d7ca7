"""Import ragas 0.4 on current LangChain.

ragas 0.4.3 imports ``langchain_community.chat_models.vertexai`` at module level, a module no
current langchain-community release ships (vibrantlabsai/ragas#2745, #2995; fix pending in #2957).
We never use Vertex AI: we register an inert stand-in for that one module, only when it is
missing, so the rest of ragas imports unchanged. Remove once ragas ships the fix.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import Any

_MISSING_MODULE = "langchain_community.chat_models.vertexai"


def import_ragas() -> Any:
    """Return the ``ragas`` module, with telemetry off and the Vertex AI import tolerated."""
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # ragas reads this itself at import
    try:
        importlib.import_module(_MISSING_MODULE)
    except ModuleNotFoundError:
        stand_in = types.ModuleType(_MISSING_MODULE)
        stand_in.ChatVertexAI = type("ChatVertexAI", (), {})  # type: ignore[attr-defined]
        sys.modules[_MISSING_MODULE] = stand_in
    return importlib.import_module("ragas")
