"""The golden set: questions with a reference answer, the source that answers them and a key phrase."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from genaiops.settings import REPO_ROOT

DEFAULT_GOLDEN = REPO_ROOT / "eval" / "datasets" / "golden.jsonl"
Kind = Literal["in_scope", "out_of_scope", "injection"]


class GoldenItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    question: str
    kind: Kind = "in_scope"
    reference: str | None = None
    source: str | None = None
    key_phrase: str | None = None
    lang: str = "fr"


def load_golden(path: Path | None = None, limit: int | None = None) -> list[GoldenItem]:
    """Read the JSONL file; ``limit`` keeps the first N of each kind so a short run still covers all kinds."""
    path = path or DEFAULT_GOLDEN
    items = [GoldenItem(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit is None:
        return items
    kept: list[GoldenItem] = []
    counts: dict[str, int] = {}
    for item in items:
        if counts.get(item.kind, 0) < limit:
            kept.append(item)
            counts[item.kind] = counts.get(item.kind, 0) + 1
    return kept
