"""The resume sidecar `<stem>.resume.pt`: what a checkpoint does not hold but an exact restart needs.

The checkpoint already carries the VAE weights, the config and the history. The sidecar adds the
Q network, both optimiser states and the generator states, as plain tensors, numbers and dicts,
so it is written with `torch.save` and read back with `weights_only=True` like everything else.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch

from vmieval.atomic import atomic_write
from vmieval.errors import CheckpointError

SIDECAR_FORMAT = "vmieval-train-resume"


def sidecar_path(checkpoint: Path) -> Path:
    """`runs/mnist-joint-mi.pt` -> `runs/mnist-joint-mi.resume.pt`."""
    return checkpoint.with_name(f"{checkpoint.stem}.resume.pt")


def save_sidecar(
    path: Path,
    config: dict[str, Any],
    epochs_done: int,
    q_state: dict[str, torch.Tensor],
    optimisers: dict[str, dict[str, Any]],
    generators: dict[str, torch.Generator],
) -> Path:
    payload = {
        "format": SIDECAR_FORMAT,
        "config": json.dumps(config, sort_keys=True),
        "epochs_done": int(epochs_done),
        "q": {k: v.detach().cpu().clone() for k, v in q_state.items()},
        "optimisers": optimisers,
        "rng": {name: g.get_state() for name, g in generators.items()},
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp), force=True)


def load_sidecar(path: Path) -> dict[str, Any]:
    """Read a sidecar with `weights_only=True`; a missing or foreign file is one CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path}: resume state is missing; rerun without --resume (and with --force)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: unreadable resume state ({first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != SIDECAR_FORMAT:
        raise CheckpointError(f"{path}: not a vmieval resume file")
    payload["config"] = json.loads(payload["config"])
    return payload
