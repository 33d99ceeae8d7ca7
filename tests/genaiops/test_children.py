"""A child started with ``die_with_parent`` goes when its parent is killed outright, session of its own or not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Literal

import pytest

PARENT = """
import subprocess, sys, time
from genaiops.children import die_with_parent, killed_with_parent
asked = {"none": None, "term": die_with_parent, "kill": killed_with_parent}[sys.argv[1]]
command = ["sleep", "120"] if sys.argv[2] == "0" else ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"]
child = subprocess.Popen(command, start_new_session=True, preexec_fn=asked)
def ignores_sigterm():  # the shell's trap has run: the parent may die now
    with open(f"/proc/{child.pid}/status") as status:
        mask = next(line for line in status if line.startswith("SigIgn:")).split()[1]
    return int(mask, 16) >> 14 & 1
while sys.argv[2] == "1" and not ignores_sigterm():
    time.sleep(0.01)
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


def child_after_sigkill(
    on_parent_death: Literal["none", "term", "kill"], wait_s: float, deaf_to_sigterm: bool = False
) -> tuple[int, bool]:
    """``on_parent_death``: the child's preexec hook: none, ``die_with_parent`` (SIGTERM), ``killed_with_parent``."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, on_parent_death, "1" if deaf_to_sigterm else "0"],
        stdout=subprocess.PIPE,
        text=True,
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
    _, left = child_after_sigkill("term", wait_s=10)
    assert not left
    orphan, left = child_after_sigkill("none", wait_s=1)  # the control: without it, it stays
    try:
        assert left
    finally:
        os.kill(orphan, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux only")
def test_a_child_deaf_to_sigterm_is_killed_with_its_parent_when_asked() -> None:
    """llama-server's shutdown can hang: it is started with ``killed_with_parent`` (SIGKILL), not SIGTERM."""
    _, left = child_after_sigkill("kill", wait_s=10, deaf_to_sigterm=True)
    assert not left
    deaf, left = child_after_sigkill("term", wait_s=1, deaf_to_sigterm=True)  # SIGTERM is not enough
    try:
        assert left
    finally:
        os.kill(deaf, signal.SIGKILL)
