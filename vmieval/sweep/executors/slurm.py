"""`--executor slurm`: submitit jobs on SLURM (one job array), or on submitit's local executor (`cluster="local"`,
what the tests use) or in-process (`"debug"`).

submitit is imported here only. Its logs and pickled jobs go to `<sweep>/slurm/`. On SLURM the whole sweep is
one array, at most `workers` running at once (`slurm_array_parallelism`); elsewhere at most `workers` jobs are
submitted at a time. Ctrl-C cancels the submitted jobs that have not finished.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vmieval.sweep.executors import missing_engine
from vmieval.sweep.job import Outcome, evaluate
from vmieval.sweep.plan import Job

POLL_S = 0.5


class SlurmExecutor:
    def __init__(
        self,
        workers: int,
        threads: int,
        folder: str | Path = "slurm",
        cluster: str | None = None,
        partition: str | None = None,
        time_min: int = 60,
        gpus: int = 0,
        mem_gb: float | None = None,
    ) -> None:
        self.workers, self.threads, self.folder, self.cluster = max(1, workers), max(1, threads), Path(folder), cluster
        self.parameters: dict[str, Any] = {"timeout_min": time_min, "cpus_per_task": self.threads, "name": "vmieval"}
        self.parameters |= {"gpus_per_node": gpus} if gpus else {}
        self.parameters |= {"mem_gb": mem_gb} if mem_gb else {}
        self.parameters |= {"slurm_partition": partition} if partition else {}
        self.running = 0

    def _executor(self) -> Any:
        try:
            import submitit
        except ImportError:
            raise missing_engine("slurm", "submitit") from None
        executor = submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster)
        executor.update_parameters(**self.parameters, slurm_array_parallelism=self.workers)
        return executor

    def map(self, jobs: Iterable[Job]) -> Iterator[Outcome | None]:
        jobs = list(jobs)
        if not jobs:
            return
        executor = self._executor()
        waiting = list(jobs)
        submitted: dict[Any, Job] = {}
        if executor.cluster == "slurm":
            submitted = dict(zip(executor.map_array(evaluate, waiting), waiting, strict=True))
            waiting = []
        try:
            while submitted or waiting:
                while waiting and len(submitted) < self.workers:
                    job = waiting.pop(0)
                    submitted[executor.submit(evaluate, job)] = job
                self.running = min(self.workers, len(submitted))
                finished = [j for j in submitted if j.done()]
                if not finished:
                    time.sleep(POLL_S)
                    yield None  # a heartbeat for the progress line
                for handle in finished:
                    yield _outcome(handle, submitted.pop(handle))
            self.running = 0
        finally:
            for handle in submitted:
                handle.cancel(check=False)


def _outcome(handle: Any, job: Job) -> Outcome:
    try:
        return handle.result()
    except Exception as exc:  # noqa: BLE001 - a job the scheduler killed (time limit, node failure) fails alone
        return Outcome(job.key, job.name, "failed", f"{type(exc).__name__}: {exc}".splitlines()[0])
