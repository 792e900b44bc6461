"""Reference trainers: VAEs trained with the ELBO or with the VMI-VAE MI regulariser (paper presets).

Installed as `vmieval.trainers`; the core package never imports it. `train` writes one native
checkpoint (plus a resume sidecar); `train_pair` writes the ELBO and MI models of a preset from
identical initial weights.
"""

from vmieval.trainers.history import HISTORY_KEYS
from vmieval.trainers.loop import TrainEvent, TrainResult, build_models, pair_paths, train, train_pair
from vmieval.trainers.presets import PRESETS, TrainConfig, get_preset, pair_configs, resolve_config

__all__ = [
    "HISTORY_KEYS",
    "PRESETS",
    "TrainConfig",
    "TrainEvent",
    "TrainResult",
    "build_models",
    "get_preset",
    "pair_configs",
    "pair_paths",
    "resolve_config",
    "train",
    "train_pair",
]
