"""Checks every loader runs before a model is handed out: finite tensors, and a forward pass
whose output shapes agree with the spec (so metadata that contradicts the weights is caught at
load time, with one line, instead of as a shape error deep inside an estimator)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from vmieval.errors import CheckpointError
from vmieval.spec import ModelSpec


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_tensors(state: Mapping[str, object], where: str) -> None:
    """Every entry is a tensor; every floating tensor is finite."""
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{where}: entry {key!r} is {type(value).__name__}, expected a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{where}: tensor {key!r} contains NaN or Inf; the file is corrupt or diverged")


def check_forward(encode, decode, spec: ModelSpec, where: str, device: torch.device | str = "cpu") -> None:
    """Run one tiny batch through both halves and compare shapes with the spec."""
    x = torch.full((2, *spec.observation_shape), 0.5, device=device)
    try:
        with torch.no_grad():
            params = encode(x)
            recon = decode(torch.zeros(2, spec.latent_width, device=device))
    except (RuntimeError, ValueError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{where}: model cannot run on its own spec ({first})") from None
    if tuple(params.shape) != (2, spec.param_width):
        raise CheckpointError(
            f"{where}: encoder returns {tuple(params.shape[1:])} parameters but the spec's latent blocks need "
            f"{spec.param_width}; the metadata does not match the weights"
        )
    if tuple(recon.shape) != (2, *spec.observation_shape):
        raise CheckpointError(
            f"{where}: decoder returns images of shape {tuple(recon.shape[1:])}, spec says "
            f"{spec.observation_shape}; the metadata does not match the weights"
        )
    if not (bool(torch.isfinite(params).all()) and bool(torch.isfinite(recon).all())):
        raise CheckpointError(f"{where}: model produces NaN/Inf on a plain input")


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], where: str, architecture: str) -> nn.Module:
    """Load weights with no missing, extra or reshaped tensors, then switch to eval mode."""
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())
        raise CheckpointError(f"{where}: weights do not fit the {architecture} architecture ({detail[:300]})") from None
    return module.eval()
