"""Models saved by pythae (Chadebec et al. 2022, `pythae` 0.1.2), read without running code from them.

`model.save(folder)` (and pythae's trainers, into `.../final_model`) writes a folder:
    model.pt              `torch.save({"model_state_dict": ...})`: tensors only, read with `weights_only=True`
    model_config.json     `{"name": "BetaVAEConfig", "input_dim": [1, 28, 28], "latent_dim": 10,
                          "reconstruction_loss": "bce", "uses_default_encoder": true, ..., "beta": 4.0}`
    training_config.json  the trainer's settings (epochs, learning rate, batch size), when a trainer saved it
    environment.json      the Python version
    encoder.pkl, decoder.pkl   only for custom networks: cloudpickled Python objects, i.e. programs
The VAE-family models whose posterior is one diagonal Gaussian with a N(0, I) prior (`SUPPORTED`) and
whose networks are pythae's defaults are rebuilt from model_config.json by vmieval's own
`pythae-mlp` architecture (`vmieval.architectures.pythae_nets`) and loaded through the same guards as every
checkpoint (`read_payload`'s bounds, `build_checked`, `check_forward`). The spec: observation
`input_dim`, one Gaussian block `z` of `latent_dim`, Bernoulli logits for "bce" (pythae's sigmoid
dropped), Gaussian means with standard deviation 1 for "mse" (pythae's `0.5 * ||x - mean||^2`).

Custom networks are never unpickled, with or without `--trust`: vmieval does not unpickle arbitrary
objects. Without `--trust` they are refused as a trust matter (exit 4); with it, the message says what
to do instead: load the model with pythae in your own Python and `vmieval export` it.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from pathlib import Path
from typing import Any

import torch

from vmieval.architectures.pythae_nets import PYTHAE_MLP, PythaeMLPConfig
from vmieval.architectures.registry import build_architecture
from vmieval.checkpoints.adapters import read_spec_file
from vmieval.checkpoints.metadata import check_training_record, is_int
from vmieval.checkpoints.validate import build_checked, check_forward, sha256_of
from vmieval.errors import CheckpointError, TrustRequired, terminal_safe
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, gaussian

PYTHAE = "pythae"
WEIGHTS, CONFIG, TRAINING = "model.pt", "model_config.json", "training_config.json"
# config class name (model_config.json's `name`) -> model class: Gaussian posterior, N(0, I) prior, and
# only `encoder.*` / `decoder.*` weights (FactorVAE adds a discriminator used in training only).
SUPPORTED = {
    "VAEConfig": "VAE",
    "BetaVAEConfig": "BetaVAE",
    "BetaTCVAEConfig": "BetaTCVAE",
    "DisentangledBetaVAEConfig": "DisentangledBetaVAE",
    "FactorVAEConfig": "FactorVAE",
    "IWAEConfig": "IWAE",
    "MIWAEConfig": "MIWAE",
    "PIWAEConfig": "PIWAE",
    "CIWAEConfig": "CIWAE",
    "INFOVAE_MMD_Config": "INFOVAE_MMD",
}
# pythae models vmieval recognises but cannot evaluate natively, and why.
UNSUPPORTED = {
    "VAMPConfig": "its prior is a VampPrior mixture, not N(0, I)",
    "VAE_IAF_Config": "its posterior passes through an inverse autoregressive flow",
    "VAE_LinNF_Config": "its posterior passes through normalizing flows",
    "HVAEConfig": "its posterior is refined by Hamiltonian dynamics",
    "RHVAEConfig": "its posterior is refined by Riemannian Hamiltonian dynamics",
    "SVAEConfig": "its posterior is a von Mises-Fisher distribution on the sphere",
    "PoincareVAEConfig": "its latent space is hyperbolic",
    "MSSSIM_VAEConfig": "its reconstruction term is MS-SSIM, not a likelihood",
    "VAEGANConfig": "its reconstruction term is a discriminator's feature distance, not a likelihood",
    "Adversarial_AE_Config": "its latent is matched adversarially, not by a KL to N(0, I)",
    "AEConfig": "it is a deterministic autoencoder",
    "WAE_MMD_Config": "it is a deterministic autoencoder",
    "RAE_L2_Config": "it is a deterministic autoencoder",
    "RAE_GP_Config": "it is a deterministic autoencoder",
    "VQVAEConfig": "its latent is vector-quantised",
}
_TRAINING_ONLY = {"FactorVAE": "discriminator."}  # weights the model needs only to train
MAX_SIDE, MAX_LATENT = 1 << 16, 4096
_HYPER = ("beta", "alpha", "gamma", "C", "number_samples", "lbd")


def pythae_folder(path: str | Path, format: str = "auto") -> Path | None:
    """The pythae folder `path` names (the folder itself, or a file inside it with a pythae
    model_config.json beside it), or None. With `format="pythae"` anything else is a CheckpointError."""
    path = Path(path)
    if format not in ("auto", PYTHAE):
        return None
    try:
        if path.is_dir() and ((path / CONFIG).is_file() or (path / WEIGHTS).is_file()):
            return path
        if path.is_file() and (path.parent / CONFIG).is_file():
            if format == PYTHAE or _config_name(path.parent) in {*SUPPORTED, *UNSUPPORTED}:
                return path.parent
    except OSError:
        return None  # a name too long, a permission denied: the loader's own checks say so in one line
    if format == PYTHAE:
        raise CheckpointError(f"{path}: not a pythae model folder (expected {WEIGHTS} and {CONFIG})")
    return None


def _config_name(folder: Path) -> str | None:
    try:
        return _model_name(read_spec_file(folder / CONFIG))
    except CheckpointError:
        return None


def _model_name(config: dict[str, Any]) -> str | None:
    """model_config.json's `name` when it is a string (a list, a number or no name is None)."""
    name = config.get("name")
    return name if isinstance(name, str) else None


@dataclasses.dataclass(frozen=True)
class PythaeModel:
    """What model_config.json says, checked: the model class, the spec it implies, custom networks."""

    model: str
    spec: ModelSpec
    custom: tuple[str, ...]  # "encoder.pkl" / "decoder.pkl" of custom networks, empty for defaults
    config: dict[str, Any]


def _flag(config: dict[str, Any], key: str, where: str) -> bool:
    value = config.get(key, True)
    if not isinstance(value, bool):
        raise CheckpointError(f"{where}: {CONFIG} {key} must be true or false, got {value!r}"[:300])
    return value


def _observation(value: Any, where: str) -> tuple[int, int, int]:
    """input_dim as (C, H, W): [C, H, W] as is, [H, W] as one channel; a flat [D] has no image shape."""
    if not isinstance(value, list) or not all(is_int(v) and 1 <= v <= MAX_SIDE for v in value):
        raise CheckpointError(
            f"{where}: {CONFIG} input_dim must be a list of integers in 1..{MAX_SIDE}, got {value!r}"[:300]
        )
    if len(value) == 3:
        return (value[0], value[1], value[2])
    if len(value) == 2:
        return (1, value[0], value[1])
    if len(value) == 1:
        raise CheckpointError(
            f"{where}: {CONFIG} input_dim {value} is flat; vmieval needs the image shape: set input_dim to "
            f"[C, H, W] (pythae's MLP flattens its input, so the weights stay valid)"
        )
    raise CheckpointError(f"{where}: {CONFIG} input_dim {value} is not an image shape [C, H, W]"[:300])


def read_model_config(folder: Path) -> PythaeModel:
    """Parse and check model_config.json (bounded size, strict types); unknown extra keys are kept, unread."""
    where = str(folder)
    if not (folder / CONFIG).is_file():
        raise CheckpointError(f"{where}: a pythae model folder needs {CONFIG} beside {WEIGHTS}; it is missing")
    config = read_spec_file(folder / CONFIG)
    name = _model_name(config)
    if name is None:
        got = terminal_safe(repr(config.get("name")), 60) if "name" in config else "none"
        raise CheckpointError(f"{where}: {CONFIG} must name the model class as a string (e.g. 'VAEConfig'), got {got}")
    if name in UNSUPPORTED:
        raise CheckpointError(f"{where}: pythae {name} cannot be evaluated by vmieval: {UNSUPPORTED[name]}")
    if name not in SUPPORTED:
        known = ", ".join(sorted(SUPPORTED))
        shown = terminal_safe(name, 60)
        raise CheckpointError(f"{where}: {CONFIG} names {shown!r}, not a pythae model vmieval reads ({known})")
    latent = config.get("latent_dim")
    if not is_int(latent) or not 1 <= latent <= MAX_LATENT:
        raise CheckpointError(
            f"{where}: {CONFIG} latent_dim must be an integer in 1..{MAX_LATENT}, got {latent!r}"[:300]
        )
    loss = config.get("reconstruction_loss", "mse")  # pythae's default
    if loss not in ("bce", "mse"):
        raise CheckpointError(f"{where}: {CONFIG} reconstruction_loss must be 'bce' or 'mse', got {loss!r}"[:300])
    observation = _observation(config.get("input_dim"), where)
    spec = ModelSpec(
        observation_shape=observation,
        blocks=(gaussian("z", latent),),
        likelihood="bernoulli" if loss == "bce" else "gaussian",
        likelihood_scale=None if loss == "bce" else 1.0,
    )
    custom = tuple(f"{part}.pkl" for part in ("encoder", "decoder") if not _flag(config, f"uses_default_{part}", where))
    return PythaeModel(SUPPORTED[name], spec, custom, config)


def refuse_custom(model: PythaeModel, folder: Path, trust: bool) -> None:
    """Custom networks are pickled programs: exit 4 without --trust; with it, say how to export them."""
    if not model.custom:
        return
    which = " and ".join(model.custom)
    if not trust:
        raise TrustRequired(
            f"{folder}: pythae {model.model} with custom networks ({which}): pickled programs that run code when "
            f"loaded; vmieval loads only pythae's default networks without code (see docs/checkpoints.md, "
            f"'Importing pythae', to export yours)"
        )
    raise CheckpointError(
        f"{folder}: pythae {model.model} with custom networks ({which}): vmieval never unpickles programs, even "
        f"with --trust; load the model with pythae in your own Python and `vmieval export` it "
        f"(docs/checkpoints.md, 'Importing pythae'), then load that archive with --trust"
    )


def read_state(folder: Path, model: PythaeModel) -> dict[str, torch.Tensor]:
    """model.pt's `model_state_dict`, read through the loader's bounds with `weights_only=True`."""
    from vmieval.checkpoints.loader import read_payload

    weights = folder / WEIGHTS
    if not weights.exists():
        raise CheckpointError(f"{folder}: a pythae model folder needs {WEIGHTS} beside {CONFIG}; it is missing")
    if not weights.is_file():
        raise CheckpointError(f"{weights} is not a regular file (a folder, a FIFO or a device); pythae writes a file")
    payload = read_payload(weights)
    state = payload.get("model_state_dict") if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights}: not a pythae model file (no 'model_state_dict' in it)")
    if not all(isinstance(k, str) for k in state):
        raise CheckpointError(f"{weights}: a state dict's keys are tensor names; this one has other keys")
    drop = _TRAINING_ONLY.get(model.model)
    return {k: v for k, v in state.items() if not (drop and k.startswith(drop))}


def _training_record(folder: Path, model: PythaeModel) -> dict[str, Any]:
    config = model.config
    hyper = [f"{k}={config[k]}" for k in _HYPER if isinstance(config.get(k), int | float) and math.isfinite(config[k])]
    loss = "bce" if model.spec.likelihood == "bernoulli" else "mse"
    record: dict[str, Any] = {"objective": f"pythae {model.model} ({', '.join([f'{loss} reconstruction', *hyper])})"}
    if (folder / TRAINING).is_file():
        training = read_spec_file(folder / TRAINING)
        for ours, theirs in (("epochs", "num_epochs"), ("batch_size", "per_device_train_batch_size")):
            if is_int(training.get(theirs)):
                record[ours] = training[theirs]
        if isinstance(training.get("learning_rate"), int | float) and not isinstance(training["learning_rate"], bool):
            record["lr"] = training["learning_rate"]
    return check_training_record(record, str(folder))


def _metadata(folder: Path, model: PythaeModel) -> dict[str, Any]:
    architecture = (
        {"name": PYTHAE_MLP, "config": dataclasses.asdict(PythaeMLPConfig())}
        if not model.custom
        else {"name": f"pythae custom networks ({', '.join(model.custom)}; not loaded)", "config": {}}
    )
    return {
        "format": PYTHAE,
        "pythae_model": model.model,
        "architecture": architecture,
        "spec": model.spec.to_dict(),
        "training": _training_record(folder, model),
        "settings": model.config,
    }


def load_pythae(folder: str | Path, trust: bool = False, device: str = "cpu") -> FrozenVAE:
    """A pythae folder as a FrozenVAE: config checked, custom networks refused, weights bounded and strict."""
    folder = Path(folder)
    model = read_model_config(folder)
    refuse_custom(model, folder, trust)
    state = read_state(folder, model)
    meta = _metadata(folder, model)
    where = str(folder)
    build = partial(build_architecture, PYTHAE_MLP, PythaeMLPConfig(), model.spec)
    module = build_checked(build, state, where, f"pythae {model.model} default MLP")
    check_forward(module.encode, module.decode, model.spec, where)
    info = CheckpointInfo(where, PYTHAE, sha256_of(folder / WEIGHTS), PYTHAE_MLP, meta)
    return FrozenVAE.from_module(module, model.spec, info, device=device)


def describe_pythae(folder: str | Path) -> dict[str, Any]:
    """What a pythae folder holds, from its JSON and its tensors' shapes; nothing built, no pickle read."""
    folder = Path(folder)
    model = read_model_config(folder)
    tensors = list(read_state(folder, model).values())
    return {
        "format": PYTHAE,
        "metadata": _metadata(folder, model),
        "tensors": len(tensors),
        "parameters": sum(int(t.numel()) for t in tensors),
    }
