"""A model's hyper-parameters, for a sweep table's columns: from what the checkpoint records and from its path.

Recorded (read from the loaded model's metadata, never by running anything):
- vmieval's trainers: the training record's `preset`, `objective`, `lam`, `entropy`, `mi_target`, `seed`,
  `dataset`, `epochs_done`, and the scalar settings of its `config` (`beta_z`, `lr`, ...);
- pythae: model_config.json's scalars (`beta`, `alpha`, `gamma`, `C`, `latent_dim`, ...) and the epochs,
  batch size and learning rate of training_config.json;
- JointVAE: specs.json's scalars (`experiment_name`, `epochs`, `batch_size`, `lr`, `dataset`) and its
  capacities (`cont_capacity`, `disc_capacity` as lists of numbers, kept as JSON text).
From the path: `key<number>` folder names (`runs/beta4/seed1/model.pt` -> beta=4, seed=1), or the named groups
of a `--name-from` regular expression (`r'lam(?P<lam>[\\d.]+)-(?P<entropy>\\w+)'`). The path wins over the
record where both give a value: it is what the user typed to tell the runs apart.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from vmieval.errors import UsageError

RECORD_KEYS = ("preset", "objective", "lam", "entropy", "mi_target", "seed", "dataset", "epochs_done", "epochs")
PATH_PART = re.compile(r"^([A-Za-z_]+?)[-_=]?(-?\d+(?:\.\d+)?(?:e-?\d+)?)$")
Scalar = str | int | float | bool


def _scalar(value: Any) -> Scalar | None:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple) and len(value) <= 8 and all(isinstance(v, int | float) for v in value):
        return json.dumps(list(value))
    return None


def _scalars(mapping: Any, keys: tuple[str, ...] | None = None) -> dict[str, Scalar]:
    if not isinstance(mapping, dict):
        return {}
    out = {}
    for key, value in mapping.items():
        if keys is not None and key not in keys:
            continue
        if (v := _scalar(value)) is not None:
            out[str(key)] = v
    return out


def recorded_hyperparameters(metadata: dict[str, Any]) -> dict[str, Scalar]:
    """Hyper-parameters a checkpoint records (`FrozenVAE.info.metadata`): training record, its config, the
    foreign model's settings (pythae model_config.json, JointVAE specs.json)."""
    training = metadata.get("training") or {}
    settings = metadata.get("settings") or {}
    config = training.get("config") if isinstance(training.get("config"), dict) else {}
    out: dict[str, Scalar] = {}
    out |= {k: v for k, v in _scalars(config).items() if not k.endswith("_dir")}
    out |= _scalars(settings)
    out |= _scalars(training, RECORD_KEYS)
    out.pop("name", None)
    if isinstance(settings.get("name"), str) and settings["name"].endswith("Config"):  # pythae: BetaVAEConfig
        out["model_class"] = settings["name"].removesuffix("Config")
    return out


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def path_hyperparameters(path: str, pattern: str | None = None, tail: str | None = None) -> dict[str, Scalar]:
    """`key<number>` parts of `tail` (the path's distinguishing folders and stem; default: the path), or the
    named groups of `pattern` searched in the whole path (numbers parsed as numbers)."""
    if pattern is not None:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise UsageError(f"--name-from {pattern!r} is not a regular expression: {exc}") from None
        if not regex.groupindex:
            raise UsageError(f"--name-from {pattern!r} names no group; write (?P<beta>[0-9.]+)")
        match = regex.search(Path(path).as_posix())
        if match is None:
            return {}
        out: dict[str, Scalar] = {}
        for key, text in match.groupdict().items():
            if text is None:
                continue
            try:
                out[key] = _number(text)
            except ValueError:
                out[key] = text
        return out
    found: dict[str, Scalar] = {}
    for part in Path(tail or path).with_suffix("").parts:
        if (match := PATH_PART.match(part)) is not None:
            found[match.group(1).lower()] = _number(match.group(2))
    return found


def hyperparameters(
    path: str, metadata: dict[str, Any], pattern: str | None = None, tail: str | None = None
) -> dict[str, Scalar]:
    """The recorded hyper-parameters, overridden by those the path names."""
    return recorded_hyperparameters(metadata) | path_hyperparameters(path, pattern, tail)
