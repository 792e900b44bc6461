"""Run a sweep: plan, skip what the cache holds, hand the rest to an executor, merge into sweep.h5/csv.

Orchestration only: every number comes from `vmieval.sweep.job.evaluate` (the report's own `build_report`)
through the cache. The merge runs at the end whatever happened, Ctrl-C included, so the finished models are in
`sweep.h5` and `sweep.csv` at once; the rerun finds them in the cache and computes only the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vmieval.sweep import cache
from vmieval.sweep.executors import Executor
from vmieval.sweep.job import Outcome
from vmieval.sweep.merge import merge_paths
from vmieval.sweep.plan import Job
from vmieval.sweep.table import SweepTable, write_table


@dataclass
class Progress:
    """Counts for the progress line: models found in the cache, computed, failed and running now."""

    total: int
    cached: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    started: float = field(default_factory=time.perf_counter)
    last: Outcome | None = None

    @property
    def finished(self) -> int:
        return self.cached + self.done + self.failed

    def eta_s(self) -> float | None:
        """Seconds left at the wall-clock rate so far (which already counts the workers running in parallel)."""
        computed = self.done + self.failed
        if computed == 0:
            return None
        return (time.perf_counter() - self.started) / computed * (self.total - self.finished)


@dataclass
class SweepResult:
    table: SweepTable
    outcomes: list[Outcome]
    h5: Path
    csv: Path
    interrupted: bool = False


def _plan_rows(jobs: list[Job]) -> list[dict[str, Any]]:
    return [{"key": j.key, "name": j.name, "checkpoint": j.checkpoint, "tail": j.tail} for j in jobs]


def run_sweep(
    jobs: list[Job],
    folder: str | Path,
    executor: Executor,
    on_progress: Callable[[Progress], None] | None = None,
    argv: list[str] | None = None,
    name_from: str | None = None,
) -> SweepResult:
    """Evaluate the jobs not in the cache (each key once) and merge every job's entry into the sweep table."""
    folder = Path(folder)
    (folder / cache.CACHE).mkdir(parents=True, exist_ok=True)
    cache.clean_stale(folder)
    cache.write_plan(folder, _plan_rows(jobs), {"created": datetime.now(UTC).isoformat(timespec="seconds")})
    todo = list({j.key: j for j in jobs if not cache.is_done(folder, j.key)}.values())
    state = Progress(total=len({j.key for j in jobs}), cached=len({j.key for j in jobs}) - len(todo))
    outcomes: list[Outcome] = []
    interrupted = False

    def tell() -> None:
        state.running = executor.running
        if on_progress is not None:
            on_progress(state)

    tell()
    running = executor.map(todo)
    try:
        for outcome in running:
            if outcome is None:
                tell()
                continue
            outcomes.append(outcome)
            state.last = outcome
            if outcome.status == "failed":
                state.failed += 1
                if cache.failure(folder, outcome.key) is None:  # the worker died before it could say
                    cache.record_failure(folder, outcome.key, outcome.error)
            elif outcome.status == "cached":
                state.cached += 1
            else:
                state.done += 1
            tell()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        close = getattr(running, "close", None)
        if close is not None:
            close()  # the executor's own cleanup (cancel pending jobs) runs now, not when collected
        table = merge_paths([folder], name_from)
        h5, out_csv = write_table(table, folder, argv)
    if interrupted:
        raise SweepInterrupted(SweepResult(table, outcomes, h5, out_csv, True))
    return SweepResult(table, outcomes, h5, out_csv)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep, after the finished models were merged (`result`)."""

    def __init__(self, result: SweepResult) -> None:
        super().__init__("sweep interrupted")
        self.result = result
