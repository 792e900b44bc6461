"""The native `.pt` format: a state dict plus ONE JSON metadata string, nothing else.

Layout of the file (written by `torch.save`, read only with `weights_only=True`):
    {"vmieval_format": "vmieval-native", "metadata": "<json>", "state_dict": {name: tensor}}
Metadata keys: format, schema_version, architecture {name, config}, spec, training (free-form
record: history, seeds, settings), tensors_sha256 (absent in files written before it existed),
vmieval_version, torch_version.
Because the architecture is rebuilt from the registry and the tensors are loaded strictly, a
native file can carry no code, and a file whose tensors disagree with its metadata is refused.
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vmieval.architectures.registry import build_architecture, config_from_dict
from vmieval.checkpoints.metadata import check_training_record, check_version, parse_json
from vmieval.checkpoints.validate import build_checked, check_forward, sha256_of, state_digest
from vmieval.errors import CheckpointError
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.outputs import atomic_write
from vmieval.spec import ModelSpec

FORMAT = "vmieval-native"
SCHEMA_VERSION = 1


def native_metadata(architecture: str, config: Any, spec: ModelSpec, training: dict[str, Any] | None) -> dict:
    from vmieval import __version__

    if not dataclasses.is_dataclass(config):
        config = config_from_dict(architecture, dict(config))
    cfg = dataclasses.asdict(config)
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "architecture": {"name": architecture, "config": cfg},
        "spec": spec.to_dict(),
        "training": training or {},
        "vmieval_version": __version__,
        "torch_version": torch.__version__,
    }


def save_native(
    path: str | Path,
    module: nn.Module,
    architecture: str,
    config: Any,
    spec: ModelSpec,
    training: dict[str, Any] | None = None,
    force: bool = True,
) -> Path:
    """Write a native checkpoint atomically (temporary file, then rename)."""
    return write_payload(path, native_payload(module, architecture, config, spec, training), force=force)


def native_payload(
    module: nn.Module, architecture: str, config: Any, spec: ModelSpec, training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a native file holds: the format tag, the metadata JSON (with the tensors' hash), the weights."""
    metadata = native_metadata(architecture, config, spec, training)
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    metadata["tensors_sha256"] = state_digest(state)
    return {"vmieval_format": FORMAT, "metadata": json.dumps(metadata), "state_dict": state}


def write_payload(path: str | Path, payload: dict[str, Any], force: bool = True) -> Path:
    return atomic_write(path, lambda tmp: torch.save(payload, tmp), force=force)


def is_native(payload: Any) -> bool:
    return isinstance(payload, dict) and payload.get("vmieval_format") == FORMAT


def parse_metadata(payload: dict, where: str) -> dict[str, Any]:
    """The metadata JSON, checked so that `inspect` and the report can read every field they show."""
    raw = payload.get("metadata")
    if not isinstance(raw, str):
        raise CheckpointError(f"{where}: native checkpoint has no metadata string")
    meta = parse_json(raw, where)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{where}: metadata does not describe a {FORMAT} checkpoint")
    check_version(meta.get("schema_version"), SCHEMA_VERSION, where)
    arch = meta.get("architecture")
    if not isinstance(arch, dict) or not isinstance(arch.get("name"), str):
        raise CheckpointError(f"{where}: metadata names no architecture")
    if not isinstance(arch.get("config", {}), dict):
        raise CheckpointError(f"{where}: the architecture's config is not an object")
    try:
        ModelSpec.from_dict(meta.get("spec"))
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    meta["training"] = check_training_record(meta.get("training"), where)
    return meta


def load_native(payload: dict, path: str | Path, device: str = "cpu") -> FrozenVAE:
    """Build a FrozenVAE from an already `weights_only`-loaded native payload."""
    where = str(path)
    meta = parse_metadata(payload, where)
    spec = ModelSpec.from_dict(meta.get("spec"))
    name = meta["architecture"]["name"]
    config = config_from_dict(name, meta["architecture"].get("config", {}))
    state = payload.get("state_dict")
    build = partial(build_architecture, name, config, spec)
    module = build_checked(build, state, where, repr(name), meta.get("tensors_sha256"))
    check_forward(module.encode, module.decode, spec, where)
    info = CheckpointInfo(str(path), FORMAT, sha256_of(path), name, meta)
    return FrozenVAE.from_module(module, spec, info, device=device)
