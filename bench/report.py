"""Shared helpers of the benches: each bench owns one marked section of docs/benchmarks.md."""

from __future__ import annotations

import fcntl
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genaiops.settings import REPO_ROOT

BENCH_DOC = REPO_ROOT / "docs" / "benchmarks.md"
_HEADER = (
    "# Benchmarks\n\nWritten by `make bench` (`python -m bench`). Each section belongs to one bench, "
    "which rewrites only its own part; every figure is compared with a baseline measured in the same run.\n"
)


def write_section(name: str, markdown: str, path: Path = BENCH_DOC) -> None:
    """Replace (or append) the ``<!-- bench:NAME:start/end -->`` block; other benches' sections are kept."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{markdown.strip()}\n{end}"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(tempfile.gettempdir()) / "genaiops-benchmarks.lock"
    with open(lock_path, "w") as lock:  # benches run concurrently must not lose a section
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
        if start in text and end in text:
            head, rest = text.split(start, 1)
            text = head + block + rest.split(end, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats get 3 significant decimals."""

    def cell(value: object) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line saying where and when the figures were taken (they only compare within a run)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"_Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()} with {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}, load average {load:.1f} at start._"
    )


def percentiles(samples_s: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ms = np.asarray(samples_s) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
