"""`--executor local`: concurrent.futures' process pool on this machine, torch threads split between workers.

Workers are spawned, not forked (a forked child of a process that has run torch can deadlock in its thread
pools), and each sets its torch thread count once. Ctrl-C reaches the workers too (one process group): each
drops its unfinished temporary entry, and the pool's pending jobs are cancelled.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from vmieval.sweep.job import Outcome, evaluate
from vmieval.sweep.plan import Job

HEARTBEAT_S = 1.0


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


class LocalExecutor:
    """A process pool of `workers` processes, `threads` torch threads each."""

    def __init__(self, workers: int, threads: int) -> None:
        self.workers, self.threads, self.running = max(1, workers), max(1, threads), 0

    def map(self, jobs: Iterable[Job]) -> Iterator[Outcome | None]:
        jobs = list(jobs)
        if not jobs:
            return
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(min(self.workers, len(jobs)), context, _init_worker, (self.threads,))
        pending: dict[Future, Job] = {pool.submit(evaluate, job): job for job in jobs}
        try:
            while pending:
                self.running = min(self.workers, len(pending))
                done, _ = wait(pending, timeout=HEARTBEAT_S, return_when=FIRST_COMPLETED)
                if not done:
                    yield None  # a heartbeat: the progress line's clock and ETA move between models
                for future in done:
                    job = pending.pop(future)
                    yield _outcome(future, job)
            self.running = 0
        finally:
            pool.shutdown(wait=not pending, cancel_futures=True)


def _outcome(future: Future, job: Job) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a worker that died (out of memory, killed) fails its job only
        return Outcome(job.key, job.name, "failed", f"worker died: {type(exc).__name__}: {exc}".splitlines()[0])
