"""Waiting on a forked child in the kill-at-a-boundary tests: a child that deadlocks fails the test
instead of hanging the suite."""

from __future__ import annotations

import os
import signal
import time

import pytest

DEADLINE_S = 300


def wait_or_fail(pid: int, what: str) -> int:
    """The wait status of child `pid`; past DEADLINE_S it is killed and the test fails, naming `what`."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"{what} never finished")
        time.sleep(0.02)
