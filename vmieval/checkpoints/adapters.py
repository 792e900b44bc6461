"""Importers for well-known foreign formats (a plain state dict plus its project's spec file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vmieval.errors import CheckpointError
from vmieval.frozen import FrozenVAE


def _not_ours(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: a PyTorch file without vmieval metadata; export your model with `vmieval export`, "
        f"or name its format with --format"
    )


def load_adapter(payload: Any, path: Path, format: str, device: str, spec_file: str | Path | None) -> FrozenVAE:
    raise _not_ours(path)


def describe_adapter(payload: Any, path: Path) -> dict[str, Any]:
    raise _not_ours(path)
