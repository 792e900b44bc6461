"""Shared rich consoles: tables on stdout, notes and errors on stderr (so `--json` stays clean).

A console whose stream is not a terminal is unlimited in width (`output.UNLIMITED_WIDTH`): a table
sent to a file or a pipe keeps every column and cell. New code prints through `vmieval.cli.output`.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from vmieval.cli import output
from vmieval.cli import progress as _progress

stdout = Console(width=None if sys.stdout.isatty() else output.UNLIMITED_WIDTH)
stderr = Console(stderr=True, width=None if sys.stderr.isatty() else output.UNLIMITED_WIDTH)


def progress() -> Any:
    """Progress on stderr: live bars on a terminal, plain periodic lines elsewhere (`cli/progress.py`)."""
    return _progress.progress()
