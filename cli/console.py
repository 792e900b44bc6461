"""Shared rich consoles: tables on stdout, progress and errors on stderr (so `--json` stays clean)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stdout = Console()
stderr = Console(stderr=True)


def progress() -> Progress:
    """A progress bar on stderr, disabled when stderr is not a terminal (rich would otherwise print
    its last frame there, and an error would no longer be the only line a script sees)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=stderr,
        transient=False,
        disable=not stderr.is_terminal,
    )
