"""Container healthcheck: exit 0 when an HTTP endpoint answers 2xx, 1 otherwise.

Slim images have no curl, and a shell one-liner cannot follow $PORT portably, so every image of the
stack (api, ui, mlflow) runs this with its own Python. Usage:

    python healthcheck.py /health                               # http://127.0.0.1:$PORT/health
    python healthcheck.py http://127.0.0.1:8501/_stcore/health  # a full URL
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 4.0


def target_url(arg: str, environ: dict[str, str]) -> str:
    """A full URL is used as is; a path is joined to http://127.0.0.1:$PORT (8000 when unset)."""
    if arg.startswith(("http://", "https://")):
        return arg
    port = environ.get("PORT") or "8000"
    return f"http://127.0.0.1:{port}/{arg.lstrip('/')}"


def check(url: str, timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """(healthy, one-line reason). Any non-2xx status, refusal or timeout is unhealthy."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed local URL
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return False, f"{url} unreachable: {exc}"
    return 200 <= status < 300, f"{url} answered {status}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: healthcheck.py PATH_OR_URL", file=sys.stderr)
        return 2
    healthy, reason = check(target_url(argv[1], dict(os.environ)))
    print(reason)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
