"""Executors: thin adapters that run `vmieval.sweep.job.evaluate` on an existing engine.

`local` (a process pool on this machine, the default), `ray` (Ray, local or a cluster by `--address`) and
`slurm` (submitit: SLURM, or its local executor). Each yields one `Outcome` per job as jobs finish (and None
about once a second while none does: a heartbeat for the progress line), and keeps `running` (jobs started, not
finished). An engine is imported only when its executor
runs, so a user without Ray or submitit never imports them; a missing engine is one line naming the extra.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from vmieval.errors import UsageError

EXECUTORS = ("local", "ray", "slurm")


class Executor(Protocol):
    running: int

    def map(self, jobs: Iterable[Any]) -> Iterator[Any]: ...


def make_executor(name: str, workers: int, threads: int, **options: Any) -> Executor:
    """The executor `name` with `workers` jobs at a time, `threads` torch threads each."""
    if name == "local":
        from vmieval.sweep.executors.local import LocalExecutor

        return LocalExecutor(workers, threads)
    if name == "ray":
        from vmieval.sweep.executors.ray_exec import RayExecutor

        return RayExecutor(workers, threads, address=options.get("address"))
    if name == "slurm":
        from vmieval.sweep.executors.slurm import SlurmExecutor

        return SlurmExecutor(workers, threads, **{k: v for k, v in options.items() if k != "address"})
    raise UsageError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def missing_engine(extra: str, module: str) -> UsageError:
    return UsageError(f"--executor {extra} needs {module}, which is not installed: pip install 'vmieval[{extra}]'")
