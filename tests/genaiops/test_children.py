"""A child started with ``die_with_parent`` goes when its parent is killed outright, session of its own or not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PARENT = """
import subprocess, sys, time
from genaiops.children import die_with_parent
asked = die_with_parent if sys.argv[1] == "1" else None
child = subprocess.Popen(["sleep", "120"], start_new_session=True, preexec_fn=asked)
print(child.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for init to reap it is gone too
        return stat.read().split(") ", 1)[1][0] != "Z"


def child_after_sigkill(die_with_parent: bool, wait_s: float) -> tuple[int, bool]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, "1" if die_with_parent else "0"], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + wait_s
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    return child, alive(child)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux only")
def test_a_child_dies_with_its_killed_parent_only_when_asked() -> None:
    _, left = child_after_sigkill(die_with_parent=True, wait_s=10)
    assert not left
    orphan, left = child_after_sigkill(die_with_parent=False, wait_s=1)  # the control: without it, it stays
    try:
        assert left
    finally:
        os.kill(orphan, signal.SIGKILL)
