"""Child processes that must not outlive the process that started them.

``llama-server`` under the API, and the API and the UI under ``genaiops up``: each is started in a
session of its own (a terminal's Ctrl-C reaches the parent, which stops them in order), so when the
parent is killed outright (SIGKILL, an OOM kill, a test's teardown) nothing else would stop them and
they would keep their ports and memory.
"""

from __future__ import annotations

import contextlib
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, even by SIGKILL (Linux prctl; elsewhere a no-op)."""
    _signal_on_parent_death(signal.SIGTERM)


def killed_with_parent() -> None:
    """As ``die_with_parent``, with SIGKILL: for a child with nothing to flush whose shutdown can hang. A
    llama-server started by a test outlived its pytest worker (orphaned, then deaf to a second SIGTERM) and
    kept its port and a model's memory until killed by hand."""
    _signal_on_parent_death(signal.SIGKILL)


def _signal_on_parent_death(signum: signal.Signals) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
