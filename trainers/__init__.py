"""Reference trainers: VAEs trained with the ELBO or with the VMI-VAE MI regulariser (paper presets).

Installed as `vmieval.trainers`; the core package never imports it. `train` writes one native
checkpoint (plus a resume sidecar); `train_pair` writes the ELBO and MI models of a preset from
identical initial weights.
"""

from vmieval.lazy import lazy_exports

# Imported on first use, so `vmieval train-reference --help` (which lists PRESETS) needs no torch.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "HISTORY_KEYS": "vmieval.trainers.history",
        "PRESETS": "vmieval.trainers.presets",
        "TrainConfig": "vmieval.trainers.presets",
        "TrainEvent": "vmieval.trainers.loop",
        "TrainResult": "vmieval.trainers.loop",
        "build_models": "vmieval.trainers.loop",
        "get_preset": "vmieval.trainers.presets",
        "pair_configs": "vmieval.trainers.presets",
        "pair_paths": "vmieval.trainers.loop",
        "resolve_config": "vmieval.trainers.presets",
        "train": "vmieval.trainers.loop",
        "train_pair": "vmieval.trainers.loop",
    },
)

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
