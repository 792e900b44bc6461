"""Ctrl-C and SIGTERM: one line on stderr, a documented exit code, no temporary file left behind.

`install()` runs first thing in `vmieval.cli.main.main`, before any command module (or torch) is
imported, so an interrupt at any moment of a command-line run, start-up included, ends the same way:
the temporary files of writes in progress are deleted (`vmieval.outputs.IN_FLIGHT`; the files
already renamed into place are complete and stay), one line is printed, and the process exits with
128 + the signal number (130 for SIGINT, 143 for SIGTERM), as shells report a killed command.
Exiting at once, instead of raising `KeyboardInterrupt`, means no code can swallow the interrupt or
print a traceback while unwinding. Library users (`import vmieval`) keep Python's own handlers.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

MESSAGES = {
    signal.SIGINT: "interrupted; files already written are intact",
    signal.SIGTERM: "terminated; files already written are intact",
}


def exit_code(signum: int) -> int:
    return 128 + signum


def _handle(signum: int, frame: FrameType | None) -> None:
    atomic = sys.modules.get("vmieval.outputs")  # never imported here: it may not be loaded yet
    if atomic is not None:
        atomic.remove_in_flight()
    try:
        sys.stderr.write(f"{MESSAGES.get(signal.Signals(signum), 'stopped')}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr closed (a broken pipe): the exit code still says what happened
    os._exit(exit_code(signum))


def install() -> None:
    """Handle SIGINT and SIGTERM as above for the rest of this process."""
    for signum in MESSAGES:
        signal.signal(signum, _handle)
