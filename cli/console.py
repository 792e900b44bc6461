"""Shared rich consoles: tables on stdout, progress and errors on stderr (so `--json` stays clean)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stdout = Console()
stderr = Console(stderr=True)


def progress() -> Progress:
    """A progress bar on stderr; rich hides it automatically when stderr is not a terminal."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=stderr,
        transient=False,
    )
