"""`--executor ray`: one Ray task per job, on a local Ray instance (default) or a cluster (`--address`).

Ray is imported here only. A local instance is started with `workers` CPUs and no dashboard and shut down at
the end; on a cluster each task asks for `threads` CPUs and the checkpoints and data must be on storage every
node sees (jobs carry paths). Ctrl-C cancels the tasks not yet finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from vmieval.sweep.executors import missing_engine
from vmieval.sweep.job import Outcome, evaluate
from vmieval.sweep.plan import Job


def _evaluate(job: Job, threads: int) -> Outcome:
    import torch

    torch.set_num_threads(threads)
    return evaluate(job)


class RayExecutor:
    def __init__(self, workers: int, threads: int, address: str | None = None) -> None:
        self.workers, self.threads, self.address, self.running = max(1, workers), max(1, threads), address, 0

    def _start(self) -> Any:
        try:
            import ray
        except ImportError:
            raise missing_engine("ray", "Ray") from None
        started = not ray.is_initialized()
        if started:
            local = {} if self.address else {"num_cpus": self.workers * self.threads}
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, **local)
        return ray, started

    def map(self, jobs: Iterable[Job]) -> Iterator[Outcome | None]:
        jobs = list(jobs)
        if not jobs:
            return
        ray, started = self._start()
        task = ray.remote(num_cpus=self.threads, max_retries=0)(_evaluate)
        refs = {task.remote(job, self.threads): job for job in jobs}
        pending = list(refs)
        try:
            while pending:
                self.running = min(self.workers, len(pending))
                done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                if not done:
                    yield None  # a heartbeat for the progress line
                    continue
                try:
                    yield ray.get(done[0])
                except Exception as exc:  # noqa: BLE001 - a task that died fails its job only
                    job = refs[done[0]]
                    yield Outcome(job.key, job.name, "failed", f"Ray task died: {type(exc).__name__}".splitlines()[0])
            self.running = 0
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if started:
                ray.shutdown()
