"""The run-time plan of the decoder-side bound: what will be fitted, and how long it should take here.

Measured on the spot: a few training steps of a throwaway Q on the real pairs, under the real cost
policy, give seconds per training pair; the plan multiplies that by the pairs each fold fits on and
by a typical number of epochs (early stopping ends most fits after 10-20; the cap bounds the worst).
The throwaway Q draws from torch's global RNG inside `fork_rng`, so the estimate changes no number.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from vmieval.estimators.config import PLAN_PREFIX, MIConfig
from vmieval.estimators.decoder.pairs import GeneratedPairs
from vmieval.estimators.decoder.policy import FitPolicy
from vmieval.estimators.decoder.qnet import QNetwork, QPart

Progress = Callable[[str, int, int], None]  # (phase, done, total)
TYPICAL_EPOCHS = 15  # JointVAE and the fixtures stop after 11-18 epochs a fold
TIMED_STEPS = 3


def seconds_per_pair(pairs: GeneratedPairs, parts: tuple[QPart, ...], config: MIConfig, policy: FitPolicy) -> float:
    """Seconds one training pair costs Q here (forward, backward, clipping, Adam), from TIMED_STEPS batches."""
    n = min(config.batch_size, len(pairs))
    x, codes = pairs.x_hat[:n], [c[:n].to(pairs.x_hat.device) for c in pairs.codes]
    with torch.random.fork_rng(devices=[]):
        q = QNetwork(tuple(x.shape[1:]), parts, config.q_arch, config.q_hidden, policy.pool, policy.precision == "bf16")
        q = q.to(x.device)
        x = q.through_front(x)  # as fit_q stores its pairs
        optimiser = policy.adam(q.parameters(), config.lr)
        for step in range(TIMED_STEPS + 1):  # the first step warms the kernels up and is not counted
            if step == 1:
                start = time.perf_counter()
            loss = -q.log_q(q.from_front(x), codes).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(q.parameters(), 10.0)
            optimiser.step()
    return (time.perf_counter() - start) / (TIMED_STEPS * n)


def fit_pairs(config: MIConfig, folds: int) -> int:
    """Pairs one fold's Q fits on (the rest of the folds, less its validation share)."""
    if folds == 1:
        return config.split_sizes()[0]
    share = config.fractions[0] / (config.fractions[0] + config.fractions[1])
    return round(config.samples * (folds - 1) / folds * share)


def plan_line(config: MIConfig, folds: int, per_pair: float) -> str:
    """E.g. 'Q plan: 5 folds × ≤ 100 epochs on 20,000 pairs, ≈ 40 s here at 15 epochs a fold (≤ 270 s at
    the epoch cap); --folds 2 ≈ 10 s'."""

    def seconds(f: int, epochs: int) -> float:
        return f * epochs * fit_pairs(config, f) * per_pair * (1 + config.fractions[1] / 3)  # + validation passes

    fits = f"{folds} folds" if folds > 1 else "1 fit"
    typical = seconds(folds, TYPICAL_EPOCHS)
    line = f"{PLAN_PREFIX}{fits} × ≤ {config.max_epochs} epochs on {config.samples:,} pairs, ≈ {typical:.0f} s"
    line += f" here at {TYPICAL_EPOCHS} epochs a fold (≤ {seconds(folds, config.max_epochs):.0f} s at the epoch cap)"
    return line + (f"; --folds 2 ≈ {seconds(2, TYPICAL_EPOCHS):.0f} s" if folds > 2 else "")
