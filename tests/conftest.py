"""Shared fixtures: tiny specs and checkpoints, so each test builds in milliseconds.

One torch thread per test process: `make test` runs a pytest-xdist worker per core, and the CLI run in
process (CliRunner) or in a child takes its thread count from $OMP_NUM_THREADS (set before torch loads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

from vmieval.architectures import build_architecture
from vmieval.checkpoints import save_native
from vmieval.spec import ModelSpec, categorical, gaussian

torch.set_num_threads(1)


@pytest.fixture
def joint_spec() -> ModelSpec:
    return ModelSpec((1, 28, 28), (gaussian("z", 4), categorical("c", 10)))


@pytest.fixture
def tiny_native(tmp_path: Path, joint_spec: ModelSpec) -> Path:
    """An untrained MLP checkpoint of the joint spec (plumbing tests only)."""
    torch.manual_seed(0)
    module = build_architecture("mlp", {"hidden": [32]}, joint_spec)
    return save_native(tmp_path / "tiny.pt", module, "mlp", {"hidden": [32]}, joint_spec, {"seed": 0})
