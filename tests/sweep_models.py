"""Tiny sweep fixtures: native checkpoints on a (lambda, seed) grid, and a cheap report config."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from vmieval.architectures import build_architecture
from vmieval.checkpoints import save_native
from vmieval.estimators.config import MIConfig
from vmieval.results import ReportConfig
from vmieval.spec import ModelSpec, categorical, gaussian
from vmieval.sweep.job import Outcome, evaluate
from vmieval.sweep.plan import Job

DATA = {"dataset": "mnist-sample", "split": "test", "limit": 64}
CHEAP = ReportConfig(mi=MIConfig(samples=160, folds=2, max_epochs=2, patience=1, q_hidden=16, batch_size=64))


def make_grid(root: Path, lams: Iterable[float] = (1, 5, 20), seeds: Iterable[int] = (0, 1)) -> list[Path]:
    """An untrained MLP per (lambda, seed) at root/lam<L>/seed<S>/model.pt, the values in its training record."""
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 4)))
    paths = []
    for lam in lams:
        for seed in seeds:
            folder = root / f"lam{lam:g}" / f"seed{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            torch.manual_seed(1000 * seed + int(lam))
            module = build_architecture("mlp", {"hidden": [16]}, spec)
            record = {"seed": seed, "lam": float(lam), "preset": "tiny", "objective": "mi", "entropy": "aggregate"}
            paths.append(save_native(folder / "model.pt", module, "mlp", {"hidden": [16]}, spec, record))
    return paths


class InlineExecutor:
    """Runs jobs one after another in this process (tests only), counting the evaluations it starts."""

    def __init__(self) -> None:
        self.running = 0
        self.evaluated: list[str] = []

    def map(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        for job in jobs:
            self.running = 1
            self.evaluated.append(job.name)
            yield evaluate(job)
        self.running = 0
