"""Importers for well-known foreign formats: a plain state dict plus its project's spec file.

An adapter reads no code and trusts nothing it reads: the tensors come from `torch.load(weights_only=True)`
(done by the loader), the model spec is inferred from the tensors' shapes, and the project's own spec
file, when there is one, is only cross-checked against those shapes. So adapters need no `--trust`.

JointVAE (Dupont 2018) is recognised from `--format jointvae`, from a `specs.json` beside the file
whose `latent_spec` has `cont`/`disc` keys (the layout of the JointVAE repository's `trained_models/`),
or from the state dict's own key names. Its spec is observation C x S x S in [0, 1] with a Bernoulli
likelihood, a Gaussian block `z` (the continuous latent) and a categorical block `c` (or `c0`, `c1`, ...
when there are several discrete latents), in that order.
"""

from __future__ import annotations

import dataclasses
import re
from functools import partial
from pathlib import Path
from typing import Any

import torch

from vmieval.architectures.jointvae import JointVAEConfig
from vmieval.architectures.registry import build_architecture
from vmieval.checkpoints.metadata import check_training_record, is_int, parse_json
from vmieval.checkpoints.validate import build_checked, check_forward, sha256_of
from vmieval.errors import CheckpointError
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import LatentBlock, ModelSpec, categorical, gaussian

JOINTVAE = "jointvae"
SPEC_FILE_NAME = "specs.json"
MAX_SPEC_BYTES = 1 << 20  # a JointVAE specs.json is a few hundred bytes; refuse anything huge
_JOINTVAE_KEYS = ("img_to_features.0.weight", "features_to_hidden.0.weight", "latent_to_features.0.weight")
_CONV_KEY = re.compile(r"^img_to_features\.(\d{1,4})\.weight$")
_ALPHA_KEY = re.compile(r"^fc_alphas\.(\d{1,4})\.weight$")
_SIDE_BY_CONVS = {3: 32, 4: 64}  # JointVAE adds one stride-2 conv for 64x64 inputs


def known_formats() -> str:
    """The checkpoint formats vmieval reads, from the one registry (`vmieval.choices.CHECKPOINT_FORMATS`)."""
    from vmieval.choices import CHECKPOINT_FORMATS

    return ", ".join(f for f in CHECKPOINT_FORMATS if f != "auto")


def _not_ours(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: a PyTorch file without vmieval metadata; export your model with `vmieval export`, "
        f"or name its format with --checkpoint-format (known: {known_formats()}; pythae: the model folder)"
    )


def read_spec_file(path: Path) -> dict[str, Any]:
    """A project's JSON spec file as a dict; any unreadable or non-object file is a CheckpointError."""
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise CheckpointError(f"{path}: spec file is larger than {MAX_SPEC_BYTES} bytes; not a spec")
        text = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read spec file ({exc.strerror or exc})") from None
    raw = parse_json(text, str(path), "spec file", names=False)
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: spec file should hold a JSON object")
    return raw


def is_jointvae_settings(settings: Any) -> bool:
    """JointVAE's specs.json: a `latent_spec` object whose keys are among `cont` and `disc`."""
    latent = settings.get("latent_spec") if isinstance(settings, dict) else None
    return isinstance(latent, dict) and bool(latent) and set(latent) <= {"cont", "disc"}


def is_jointvae_state(payload: Any) -> bool:
    return isinstance(payload, dict) and all(k in payload for k in _JOINTVAE_KEYS)


def _settings_beside(path: Path, spec_file: str | Path | None) -> tuple[dict[str, Any] | None, Path | None]:
    """The explicit spec file, else a JointVAE-looking `specs.json` in the checkpoint's folder, else None."""
    if spec_file is not None:
        where = Path(spec_file)
        if not where.is_file():
            raise CheckpointError(f"{where}: no such spec file")
        return read_spec_file(where), where
    beside = path.parent / SPEC_FILE_NAME
    if beside.is_file():
        settings = read_spec_file(beside)
        if is_jointvae_settings(settings):
            return settings, beside
    return None, None


def _shape(state: dict[str, Any], key: str, where: str, ndim: int = 2) -> tuple[int, ...]:
    if not isinstance(state.get(key), torch.Tensor):
        raise CheckpointError(f"{where}: not a JointVAE state dict (no tensor {key!r})")
    if state[key].dim() < ndim:
        raise CheckpointError(f"{where}: tensor {key!r} has {state[key].dim()} dims; not a JointVAE weight")
    return tuple(state[key].shape)


def _latent_spec(settings: dict[str, Any], where: str) -> tuple[int, list[int]]:
    """specs.json's latent_spec as (cont, disc), strictly: integers, not 10.9, "10" or 1e999."""
    latent = settings["latent_spec"]
    cont, disc = latent.get("cont", 0), latent.get("disc", [])
    cont = 0 if cont is None else cont
    disc = [] if disc is None else disc
    if not is_int(cont) or not 0 <= cont <= 4096:
        raise CheckpointError(f"{where}: specs.json latent_spec.cont must be an integer in 0..4096, got {cont!r}"[:200])
    if not isinstance(disc, list) or not all(is_int(k) and 2 <= k <= 4096 for k in disc):
        raise CheckpointError(f"{where}: specs.json latent_spec.disc must be a list of integers in 2..4096"[:200])
    return cont, disc


def jointvae_spec(state: dict[str, Any], settings: dict[str, Any] | None, where: str) -> tuple[ModelSpec, Any]:
    """Infer (spec, JointVAEConfig) from the tensors' shapes (nothing else is read); cross-check a
    specs.json's latent_spec."""
    if not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{where}: a state dict's keys are tensor names; this one has other keys")
    channels = _shape(state, "img_to_features.0.weight", where)[1]
    convs = sum(1 for k in state if _CONV_KEY.match(k))
    if convs not in _SIDE_BY_CONVS:
        raise CheckpointError(f"{where}: JointVAE encoder has {convs} conv layers; expected 3 (32x32) or 4 (64x64)")
    side = _SIDE_BY_CONVS[convs]
    hidden = _shape(state, "features_to_hidden.0.weight", where)[0]
    cont = _shape(state, "fc_mean.weight", where)[0] if "fc_mean.weight" in state else 0
    heads = sorted(int(m.group(1)) for k in state if (m := _ALPHA_KEY.match(k)))
    disc = [_shape(state, f"fc_alphas.{i}.weight", where)[0] for i in heads]
    if settings is not None:
        if not is_jointvae_settings(settings):
            raise CheckpointError(f"{where}: the spec file is not JointVAE's (no latent_spec with cont/disc)")
        said = _latent_spec(settings, where)
        if said != (cont, disc):
            raise CheckpointError(
                f"{where}: specs.json says cont={said[0]}, disc={said[1]} but the weights have "
                f"cont={cont}, disc={disc}; the spec file belongs to another model"
            )
    blocks: list[LatentBlock] = [gaussian("z", cont)] if cont else []
    names = ["c"] if len(disc) == 1 else [f"c{i}" for i in range(len(disc))]
    blocks += [categorical(n, k) for n, k in zip(names, disc, strict=True)]
    if not blocks:
        raise CheckpointError(f"{where}: JointVAE state dict has neither fc_mean nor fc_alphas heads")
    spec = ModelSpec(observation_shape=(channels, side, side), blocks=tuple(blocks), likelihood="bernoulli")
    return spec, JointVAEConfig(hidden=hidden)


def _jointvae_metadata(
    spec: ModelSpec, config: Any, settings: dict[str, Any] | None, spec_path: Path | None, where: str
) -> dict:
    settings = settings or {}
    training = {
        "objective": "JointVAE capacity-controlled ELBO (Dupont 2018)",
        **{k: settings[k] for k in ("dataset", "experiment_name", "epochs", "batch_size", "lr") if k in settings},
    }
    check_training_record(training, where)
    return {
        "format": JOINTVAE,
        "architecture": {"name": JOINTVAE, "config": dataclasses.asdict(config)},
        "spec": spec.to_dict(),
        "training": training,
        "settings": settings,
        "spec_file": None if spec_path is None else str(spec_path),
    }


def _detect(payload: Any, path: Path, format: str, spec_file: str | Path | None) -> tuple[dict | None, Path | None]:
    """(settings, spec path) when the file is JointVAE; raise `_not_ours` when no adapter claims it."""
    if format not in ("auto", JOINTVAE):
        raise CheckpointError(f"{path}: not a {format} checkpoint; formats vmieval reads: {known_formats()}")
    settings, spec_path = _settings_beside(path, spec_file)
    if format == JOINTVAE or is_jointvae_settings(settings) or is_jointvae_state(payload):
        if not isinstance(payload, dict):
            raise CheckpointError(f"{path}: expected a JointVAE state dict, found a {type(payload).__name__}")
        return settings, spec_path
    raise _not_ours(path)


def load_adapter(payload: Any, path: Path, format: str, device: str, spec_file: str | Path | None) -> FrozenVAE:
    """Build a FrozenVAE from a foreign state dict that was read with `weights_only=True`."""
    path = Path(path)
    settings, spec_path = _detect(payload, path, format, spec_file)
    where = str(path)
    spec, config = jointvae_spec(payload, settings, where)
    meta = _jointvae_metadata(spec, config, settings, spec_path, where)
    module = build_checked(partial(build_architecture, JOINTVAE, config, spec), payload, where, "JointVAE")
    check_forward(module.encode, module.decode, spec, where)
    info = CheckpointInfo(where, JOINTVAE, sha256_of(path), JOINTVAE, meta)
    return FrozenVAE.from_module(module, spec, info, device=device)


def describe_adapter(payload: Any, path: Path, format: str = "auto") -> dict[str, Any]:
    """What a foreign file is, from its shapes and spec file, without building the model."""
    path = Path(path)
    settings, spec_path = _detect(payload, path, format, None)
    spec, config = jointvae_spec(payload, settings, str(path))
    tensors = [v for v in payload.values() if isinstance(v, torch.Tensor)]
    return {
        "format": JOINTVAE,
        "metadata": _jointvae_metadata(spec, config, settings, spec_path, str(path)),
        "tensors": len(tensors),
        "parameters": sum(int(t.numel()) for t in tensors),
    }
