"""Run every ``bench_*`` module (or those named): ``python -m bench [embedders ingest retrieval ...]``.

Each bench runs in a process of its own: model caches, MLflow's process-wide tracking URI and
llama.cpp thread pools left by one bench must not change another's figures.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import time
from pathlib import Path


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    wanted = {a if a.startswith("bench_") else f"bench_{a}" for a in argv}
    names = [n for n in discover() if not wanted or n in wanted]
    unknown = wanted - set(discover())
    if unknown:
        print(f"unknown bench(es): {', '.join(sorted(unknown))}; available: {', '.join(discover())}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        code = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=Path(__file__).parent.parent).returncode
        if code != 0:  # one broken bench must not hide the others' figures
            failed.append(name)
            print(f"!! {name} failed with exit code {code}", file=sys.stderr)
        print(f"== {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
