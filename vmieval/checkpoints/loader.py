"""Format sniffing and dispatch. Every failure is a CheckpointError with one line."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from vmieval.checkpoints.native import is_native, load_native, parse_metadata
from vmieval.errors import CheckpointError
from vmieval.frozen import FrozenVAE

FORMATS = ("auto", "native", "exported", "jointvae")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, expected a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: file is empty")


def read_payload(path: str | Path) -> Any:
    """`torch.load(weights_only=True)` with every failure mode turned into one line."""
    path = Path(path)
    _check_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unpickling refused"
        if "weights only" in str(exc).lower() or "weights_only" in str(exc).lower():
            raise CheckpointError(
                f"{path}: holds Python objects other than tensors, which vmieval never unpickles; "
                f"save a state dict, or use `vmieval export`"
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first[:200]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt: {first[:200]})"
        ) from None


def sniff_format(path: str | Path) -> str:
    """'exported' for a zip with vmieval.json; otherwise decided after a weights-only read."""
    path = Path(path)
    _check_file(path)
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                if any(n == "vmieval.json" or n.endswith("/vmieval.json") for n in zf.namelist()):
                    return "exported"
        except zipfile.BadZipFile:
            pass
    return "torch"


def load_checkpoint(
    path: str | Path,
    format: str = "auto",
    trust: bool = False,
    device: str = "cpu",
    spec_file: str | Path | None = None,
) -> FrozenVAE:
    """Load any supported checkpoint as a FrozenVAE (see the tiers in README, "Checkpoints")."""
    path = Path(path)
    if format not in FORMATS:
        raise CheckpointError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    kind = sniff_format(path)
    if kind == "exported" or format == "exported":
        from vmieval.checkpoints.exported import load_exported

        return load_exported(path, trust=trust, device=device)
    payload = read_payload(path)
    if is_native(payload):
        if format not in ("auto", "native"):
            raise CheckpointError(f"{path}: is a vmieval native checkpoint, not {format!r}")
        return load_native(payload, path, device=device)
    if format == "native":
        raise CheckpointError(f"{path}: not a vmieval native checkpoint")
    from vmieval.checkpoints.adapters import load_adapter

    return load_adapter(payload, path, format=format, device=device, spec_file=spec_file)


def describe_checkpoint(path: str | Path) -> dict[str, Any]:
    """What a file is, read without building any model or running any program (`vmieval inspect`)."""
    path = Path(path)
    if sniff_format(path) == "exported":
        from vmieval.checkpoints.exported import read_exported_metadata

        return {"format": "exported", "metadata": read_exported_metadata(path)}
    payload = read_payload(path)
    if is_native(payload):
        meta = parse_metadata(payload, str(path))
        state = payload.get("state_dict") or {}
        n_params = sum(int(v.numel()) for v in state.values() if isinstance(v, torch.Tensor))
        return {"format": "native", "metadata": meta, "tensors": len(state), "parameters": n_params}
    from vmieval.checkpoints.adapters import describe_adapter

    return describe_adapter(payload, path)
