"""Run every ``bench_*`` module (or those named): ``python -m bench [embedders ingest retrieval ...]``."""

from __future__ import annotations

import importlib
import pkgutil
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
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # noqa: BLE001 - one broken bench must not hide the others' figures
            failed.append(name)
            print(f"!! {name} failed: {exc!r}", file=sys.stderr)
        print(f"== {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
