"""Checks every loader runs before a model is handed out: the weights fit the architecture (names,
shapes and dtypes, checked against a copy built on the meta device, so a spec that implies billions of
parameters costs nothing), the tensors match the hash stored at save time, every tensor is finite, and
a forward pass gives the shapes the spec promises (so metadata that contradicts the weights is caught at
load time, with one line, instead of as a shape error deep inside an estimator)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vmieval.errors import CheckpointError, first_line
from vmieval.spec import ModelSpec

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 of the tensors (name, dtype, shape and bytes, in name order): stored at save time,
    checked at load, because torch's zip reader checks no CRC and a flipped bit loads silently."""
    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(json.dumps([key, str(t.dtype), list(t.shape)]).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def check_digest(state: Mapping[str, torch.Tensor], expected: Any, where: str) -> None:
    """A file written before hashes existed has none and loads as before; a wrong one is corruption."""
    if expected is None:
        return
    if not isinstance(expected, str) or not _SHA256.match(expected):
        raise CheckpointError(f"{where}: metadata has a malformed tensors_sha256; the file is corrupt")
    if state_digest(state) != expected:
        raise CheckpointError(
            f"{where}: tensor data do not match the hash stored at save time; the file is corrupt "
            f"(a bad copy or download?), copy it again"
        )


def check_fits(expected: nn.Module, state: Mapping[str, torch.Tensor], where: str, architecture: str) -> None:
    """Names, shapes and dtypes of `state` against a module built on the meta device (no memory used)."""
    wanted = expected.state_dict()
    missing, extra = sorted(set(wanted) - set(state)), sorted(set(state) - set(wanted))
    if missing or extra:
        detail = "; ".join(
            f"{label}: {', '.join(map(repr, keys[:5]))}{' ...' if len(keys) > 5 else ''}"
            for label, keys in (("missing", missing), ("unexpected", extra))
            if keys
        )
        raise CheckpointError(f"{where}: weights do not fit the {architecture} architecture ({detail})")
    for key, want in wanted.items():
        have = state[key]
        if tuple(have.shape) != tuple(want.shape):
            raise CheckpointError(
                f"{where}: weights do not fit the {architecture} architecture (size mismatch for {key}: "
                f"the file has {tuple(have.shape)}, the metadata implies {tuple(want.shape)})"
            )
        if have.dtype != want.dtype:
            raise CheckpointError(
                f"{where}: tensor {key!r} is {str(have.dtype).removeprefix('torch.')} but the {architecture} "
                f"architecture declares {str(want.dtype).removeprefix('torch.')}; convert the weights and save again"
            )


def build_checked(
    build: Callable[[], nn.Module], state: Mapping[str, Any], where: str, architecture: str, digest: Any = None
) -> nn.Module:
    """Build on the meta device and compare, check finiteness and the hash, then build for real and load."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{where}: checkpoint has no state dict")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{where}: entry {key!r} is {type(value).__name__}, expected a tensor")
    with torch.device("meta"):
        check_fits(build(), state, where, architecture)
    check_tensors(state, where)
    check_digest(state, digest, where)
    return load_strict(build(), state, where, architecture)


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
        raise CheckpointError(f"{where}: model cannot run on its own spec ({first_line(exc)})") from None
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
