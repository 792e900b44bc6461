"""Progress on stderr that suits where stderr goes.

A terminal gets rich's live bars. Anything else (nohup, a SLURM log, a CI job, a pipe) gets plain
lines once the work has run for `PLAIN_PERIOD_S` seconds: then one when a step starts or finishes,
and one per running step every `PLAIN_PERIOD_S` seconds, so a long job is never minutes of silence
and a log never fills with redraws, while a quick command (or one refused at its first step) prints
only its result or its one-line error. `--quiet` shows nothing. Both kinds mark every step finished
when the work ends, so no finished step reads 0/1. A step whose description holds the Q plan
(`PLAN_PREFIX`: what will be fitted and how long it should take) is also printed at once as a line.

The object returned by `progress()` offers the part of `rich.progress.Progress` that commands use:
`add_task`, `update`, `advance`, `tasks`, and use as a context manager.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from vmieval.cli import output

from vmieval.estimators.config import PLAN_PREFIX

PLAIN_PERIOD_S = 15.0


def progress() -> Any:
    """Live bars on a terminal, plain periodic lines elsewhere, nothing under --quiet."""
    if output.settings().quiet:
        from rich.progress import Progress

        return Progress(disable=True)
    if sys.stderr.isatty():
        return _terminal_progress()
    return PlainProgress(sys.stderr)


def phase_callback(bar: Any) -> Callable[[str, int, int], None]:
    """A `(phase, done, total)` callback (as the estimators call it) showing one step per phase;
    a phase is finished when the next one begins."""
    tasks: dict[str, Any] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            for task in tasks.values():
                _finish(bar, task)
            tasks[phase] = bar.add_task(phase, total=total, status="")
        bar.update(tasks[phase], completed=done, total=total)

    return report


def _finish(bar: Any, task_id: Any) -> None:
    task = bar.tasks[task_id]
    if task.total is not None and task.completed < task.total:
        bar.update(task_id, completed=task.total)


def _plan_line(show: Callable[[str], Any], description: str | None) -> None:
    """Show the part of `description` from the Q plan on as a line of its own (nothing if it holds none)."""
    if description is not None and PLAN_PREFIX in description:
        show(description[description.index(PLAN_PREFIX) :])


def _terminal_progress() -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class FinishingProgress(Progress):
        def add_task(self, description: str, *args: Any, **kwargs: Any) -> Any:
            _plan_line(self.console.print, description)
            return super().add_task(description, *args, **kwargs)

        def update(self, task_id: Any, *args: Any, description: str | None = None, **kwargs: Any) -> None:
            _plan_line(self.console.print, description)
            super().update(task_id, *args, description=description, **kwargs)

        def __exit__(self, exc_type: Any, *rest: Any) -> None:
            if exc_type is None:
                for task in self.tasks:
                    _finish(self, task.id)
            super().__exit__(exc_type, *rest)

    return FinishingProgress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=Console(stderr=True),
        transient=False,
    )


@dataclass
class PlainTask:
    id: int
    description: str
    total: float | None
    completed: float = 0
    fields: dict[str, Any] = field(default_factory=dict)
    last_printed: float = 0.0
    printed_finished: bool = False

    @property
    def finished(self) -> bool:
        return self.total is not None and self.completed >= self.total


class PlainProgress:
    """Progress as plain lines: `[m:ss] description: done/total status`."""

    def __init__(self, stream: IO[str], period: float = PLAIN_PERIOD_S, clock: Callable[[], float] = time.monotonic):
        self.stream, self.period, self.clock = stream, period, clock
        self.start = clock()
        self.tasks: list[PlainTask] = []

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            for task in self.tasks:
                self.update(task.id, completed=task.total if task.total is not None else task.completed)

    def add_task(self, description: str, total: float | None = 100.0, completed: float = 0, **fields: Any) -> int:
        _plan_line(self._line, description)
        task = PlainTask(len(self.tasks), description, total, completed, dict(fields))
        self.tasks.append(task)
        self._print(task)
        return task.id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(
        self,
        task_id: int,
        *,
        total: float | None = None,
        completed: float | None = None,
        advance: float | None = None,
        description: str | None = None,
        **fields: Any,
    ) -> None:
        if description != self.tasks[task_id].description:
            _plan_line(self._line, description)
        task = self.tasks[task_id]
        renamed = description is not None and description != task.description
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        if description is not None:
            task.description = description
        task.fields.update(fields)
        if task.finished:
            if not task.printed_finished:
                self._print(task)
        elif (renamed and PLAN_PREFIX not in task.description) or self.clock() - task.last_printed >= self.period:
            self._print(task)

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _print(self, task: PlainTask) -> None:
        now = self.clock()
        if now - self.start < self.period:  # quiet start: a step finished in it is never reported
            task.printed_finished = task.finished
            return
        minutes, seconds = divmod(int(now - self.start), 60)
        count = f"{task.completed:g}/{task.total:g}" if task.total is not None else f"{task.completed:g}"
        status = str(task.fields.get("status") or "")
        done = " done" if task.finished else ""
        line = f"[{minutes}:{seconds:02d}] {task.description}: {count}{done}" + (f"  {status}" if status else "")
        print(line, file=self.stream, flush=True)
        task.last_printed = now
        task.printed_finished = task.finished
