"""Shared fixtures: tiny specs and checkpoints, so each test builds in milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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
