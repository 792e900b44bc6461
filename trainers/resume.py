"""The resume sidecar `<stem>.resume.pt`: everything an exact restart needs, in ONE file.

The sidecar holds the checkpoint's own payload (weights, metadata, training record) plus what the
checkpoint does not: the Q network, both optimiser states and the generator states, all as plain
tensors, numbers and strings, so it is written with `torch.save` and read back through the same
bounded, weights-only reader as any checkpoint.

Why one file: a checkpoint and a separate resume state can disagree after a kill between their two
writes, and then neither can be trusted. `save_run` writes the sidecar first, then the checkpoint
(each atomically); `load_resume` reads only the sidecar, and rewrites the checkpoint from it when a
kill came between the two writes. Whatever moment a run is killed at, the last complete sidecar
resumes it exactly. Sidecars written before this layout (version 1, no embedded checkpoint) are
still read, paired with the checkpoint file as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vmieval.checkpoints import read_payload
from vmieval.checkpoints.metadata import is_int, parse_json
from vmieval.checkpoints.native import is_native, native_payload, parse_metadata, write_payload
from vmieval.errors import CheckpointError
from vmieval.outputs import atomic_write
from vmieval.spec import ModelSpec

SIDECAR_FORMAT = "vmieval-train-resume"
SIDECAR_VERSION = 2  # 2: the checkpoint's payload travels inside the sidecar


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
    checkpoint: dict[str, Any] | None = None,
) -> Path:
    """Write the resume state; `checkpoint` is the native payload it belongs to (see `save_run`)."""
    payload = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION if checkpoint is not None else 1,
        "config": json.dumps(config, sort_keys=True),
        "epochs_done": int(epochs_done),
        "q": {k: v.detach().cpu().clone() for k, v in q_state.items()},
        "optimisers": optimisers,
        "rng": {name: g.get_state() for name, g in generators.items()},
    }
    if checkpoint is not None:
        payload["checkpoint"] = checkpoint
    return atomic_write(path, lambda tmp: torch.save(payload, tmp), force=True)


def save_run(
    path: Path,
    module: nn.Module,
    architecture: str,
    arch_config: Any,
    spec: ModelSpec,
    training: dict[str, Any],
    config: dict[str, Any],
    progress: int,
    q_state: dict[str, torch.Tensor],
    optimisers: dict[str, dict[str, Any]],
    generators: dict[str, torch.Generator],
) -> Path:
    """The checkpoint at `path` and its sidecar, written so that a kill at any point leaves a resumable
    pair: the sidecar (holding the checkpoint too) first, then the checkpoint."""
    checkpoint = native_payload(module, architecture, arch_config, spec, training)
    save_sidecar(sidecar_path(path), config, progress, q_state, optimisers, generators, checkpoint=checkpoint)
    return write_payload(path, checkpoint, force=True)


def _bad(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: not a usable vmieval resume file ({what}); rerun without --resume (and --force)")


def _check_structure(payload: Any, path: Path) -> dict[str, Any]:
    """Types of every field `restore` reads, so a damaged file is one line, not an internal error."""
    if not isinstance(payload, dict) or payload.get("format") != SIDECAR_FORMAT:
        raise CheckpointError(f"{path}: not a vmieval resume file")
    if payload.get("version", 1) not in (1, SIDECAR_VERSION):
        raise _bad(path, f"unknown version {payload.get('version')!r}")
    if not is_int(payload.get("epochs_done")) or payload["epochs_done"] < 0:
        raise _bad(path, "epochs_done is not a non-negative integer")
    for key in ("q", "optimisers", "rng"):
        if not isinstance(payload.get(key), dict):
            raise _bad(path, f"{key} is not a dict")
    if not all(isinstance(v, torch.Tensor) for v in payload["q"].values()):
        raise _bad(path, "the Q network's state holds non-tensors")
    if not all(isinstance(payload["optimisers"].get(k), dict) for k in ("vae", "q")):
        raise _bad(path, "optimiser states are missing")
    if not all(isinstance(v, torch.Tensor) and v.dtype == torch.uint8 for v in payload["rng"].values()):
        raise _bad(path, "generator states are not byte tensors")
    payload["config"] = parse_json(payload.get("config"), str(path), "resume config")
    if not isinstance(payload["config"], dict):
        raise _bad(path, "config is not an object")
    checkpoint = payload.get("checkpoint")
    if checkpoint is not None:
        if not is_native(checkpoint) or not isinstance(checkpoint.get("state_dict"), dict):
            raise _bad(path, "the embedded checkpoint is not a native payload")
        parse_metadata(checkpoint, str(path))
    return payload


def load_sidecar(path: Path) -> dict[str, Any]:
    """Read a sidecar (bounded, weights-only); a missing, foreign or damaged file is one CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path}: resume state is missing; rerun without --resume (and with --force)")
    return _check_structure(read_payload(path), path)


def _same_payload(path: Path, payload: dict[str, Any]) -> bool:
    try:
        return read_payload(path).get("metadata") == payload["metadata"]
    except CheckpointError:
        return False


def load_resume(checkpoint: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(native payload, resume state) of the last complete save of the run at `checkpoint`.

    The sidecar is written first, so the checkpoint file may be one save behind it (or missing, or
    half-written) after a kill; it is then rewritten from the sidecar, and the pair agrees again.
    """
    side = load_sidecar(sidecar_path(checkpoint))
    embedded = side.get("checkpoint")
    if embedded is None:  # version 1: the pair is two files, as written before the sidecar held both
        return read_payload(checkpoint), side
    if not _same_payload(checkpoint, embedded):
        write_payload(checkpoint, embedded, force=True)
    return embedded, side
