"""Training curves (paper Figs 7/8) read from the record the trainers store in a checkpoint.

The trainers append one dict per epoch to `training_record["history"]`: scalars (epoch, elbo,
recon, mi_bound, exact_mi, temperature, seconds, ...), per-block dicts (`kl: {"c": .., "z": ..}`)
and per-dim lists (`kl_per_dim: {"z": [..]}`). Checkpoints from other sources may carry none of
this, or only some keys in some epochs, so reading is tolerant: nested keys are flattened with
dots (`kl.c`, `kl_per_dim.z`), a key missing from an epoch is NaN there, and values that are not
numbers are skipped rather than guessed at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vmieval.frozen import FrozenVAE

SEPARATOR = "."


@dataclass(frozen=True)
class TrainingCurves:
    """`columns`: name -> float64 array [E] (a scalar per epoch) or [E, D] (a vector per epoch,
    NaN-padded to the longest); `n_epochs` = E; `meta`: the record's scalar settings (preset,
    objective, lam, seed, ...) as strings."""

    n_epochs: int
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


def _is_number(value: Any) -> bool:
    """Ints and floats (NaN included); a bool is an int in Python and is kept as 0/1."""
    return isinstance(value, int | float)


def _flatten(entry: Mapping[str, Any], prefix: str = "") -> dict[str, float | list[float]]:
    """One epoch's dict as flat name -> number or list of numbers; everything else dropped."""
    out: dict[str, float | list[float]] = {}
    for key, value in entry.items():
        name = f"{prefix}{key}".replace("/", "_")
        if _is_number(value):
            out[name] = float(value)
        elif isinstance(value, Mapping):
            out.update(_flatten(value, name + SEPARATOR))
        elif isinstance(value, list | tuple) and value and all(_is_number(v) for v in value):
            out[name] = [float(v) for v in value]
    return out


def curves_from_history(history: Any, meta: Mapping[str, Any] | None = None) -> TrainingCurves:
    """Columns from a list of per-epoch dicts (anything else gives empty curves)."""
    entries = [e for e in history if isinstance(e, Mapping)] if isinstance(history, list) else []
    flat = [_flatten(e) for e in entries]
    names = sorted({name for row in flat for name in row})
    columns: dict[str, np.ndarray] = {}
    for name in names:
        values = [row.get(name) for row in flat]
        if any(isinstance(v, list) for v in values):
            width = max(len(v) for v in values if isinstance(v, list))
            array = np.full((len(flat), width), math.nan)
            for i, v in enumerate(values):
                if isinstance(v, list):
                    array[i, : len(v)] = v
        else:
            array = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        columns[name] = array
    settings = {
        str(k): str(v) for k, v in (meta or {}).items() if k != "history" and isinstance(v, str | int | float | bool)
    }
    return TrainingCurves(len(flat), columns, settings)


def training_curves(model: FrozenVAE) -> TrainingCurves:
    """The model's stored training curves (measured during training, not here)."""
    record = model.training_record
    return curves_from_history(record.get("history"), record)
