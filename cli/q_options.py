"""The MI estimator's options, shared by `mi-bound` and `report`: one Q-fitting policy for both.

Both commands take the same options with the same defaults (`MIConfig`'s), so a report's
decoder-side bound is exactly the bound `mi-bound` gives for the same checkpoint, data and seed:
Q is fitted until its held-out score stops improving (`--patience` epochs without a gain), up to a
generous `--max-epochs` cap, and a bound whose Q was still improving at the cap is flagged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from vmieval.estimators.config import MIConfig

Q_OPTIONS = ("target", "codes", "samples", "max_epochs", "patience", "q_arch", "q_hidden", "folds", "precision")


def q_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--target, --codes, --samples, --max-epochs, --patience, --q-arch, --q-hidden, --folds, --precision."""
    options = [
        click.option("--target", default=None, help="Latent target: c, z[7], z[0:2], z[3],z[7] or c,z[0:2]. Default: "
                     "every categorical block, else the two highest-KL dims of the first Gaussian block."),
        click.option("--codes", type=click.Choice(["posterior", "prior"]), default=MIConfig.codes, show_default=True,
                     help="Decoder-side codes: encoder posteriors of real images, or the prior."),
        click.option("--samples", type=int, default=MIConfig.samples, show_default=True,
                     help="Generated (code, image) pairs for the Q bound."),
        click.option("--max-epochs", type=int, default=MIConfig.max_epochs, show_default=True,
                     help="Cap on Q's training epochs (a bound still improving at the cap is flagged)."),
        click.option("--patience", type=int, default=MIConfig.patience, show_default=True,
                     help="Q stops after this many epochs without a better held-out score."),
        click.option("--q-arch", type=click.Choice(["mlp", "conv"]), default=MIConfig.q_arch, show_default=True,
                     help="Q's network: an MLP on the flattened image, or a small CNN."),
        click.option("--q-hidden", type=int, default=MIConfig.q_hidden, show_default=True, help="Q's hidden width."),
        click.option("--folds", type=int, default=MIConfig.folds, show_default=True,
                     help="Cross-fit the decoder-side bounds over this many folds, a fresh Q each, so the stderr "
                     "includes Q's fitting noise; 1: one Q, faster, per-pair stderr only."),
        click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default=MIConfig.precision,
                     show_default=True, help="Q's arithmetic: auto is bfloat16 where the CPU or GPU does it natively "
                     "(about 2x faster, the same bound within its stderr), else float32."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def mi_config(options: dict[str, Any], seed: int, split: str) -> MIConfig:
    """The MIConfig of the Q options a command received (validated: a bad value is a UsageError)."""
    return MIConfig(**{name: options[name] for name in Q_OPTIONS}, seed=seed, split=split)
