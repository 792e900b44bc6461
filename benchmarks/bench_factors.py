"""Cost of the factor matrix I_q(z_j; v_k) (vmieval.estimators.factors), against a same-run baseline.

    .venv/bin/python benchmarks/bench_factors.py            # N = 1000 and 3000, D = 10, dSprites-like factors

The baseline is the direct way: one `aggregate.log_aggregate` mixture per (dim, factor, class), i.e.
~113 separate [N_v, N_v] density passes per dim for dSprites' 3+6+40+32+32 classes, and as many
again for the chance level (classes permuted). `factor_terms` exponentiates each dim's [N, N]
density matrix once and sums it per class, for the factors and their permutation alike. Both get
the same draws and must give the same terms (the largest difference is printed). CPU time (process_time), one thread,
median of `--repeats`, so a busy shared machine slows both alike; the machine is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from functools import partial

import numpy as np
import torch

from vmieval.distributions import GaussianPosterior
from vmieval.estimators.aggregate import log_aggregate
from vmieval.estimators.encoder import sample_codes
from vmieval.estimators.factors import factor_terms

CLASSES = (3, 6, 40, 32, 32)  # dSprites' shape, scale, orientation, posX, posY


def baseline_terms(mean: torch.Tensor, logvar: torch.Tensor, factors: np.ndarray, generator: torch.Generator):
    """The same terms and chance-level terms, one log_aggregate per factor class: ([N, D, F], [N, D, F])."""
    n, d = mean.shape
    permuted = factors[np.random.default_rng(0).permutation(n)]  # the null's relabelling (null_seed 0)
    terms = torch.empty(n, d, factors.shape[1], dtype=torch.float64)
    null = torch.empty_like(terms)
    for j in range(d):
        post = GaussianPosterior(mean[:, j : j + 1], logvar[:, j : j + 1])
        (code,) = sample_codes([post], generator)
        log_bar = log_aggregate([post], [code])
        for out, classes in ((terms, factors), (null, permuted)):
            for k in range(classes.shape[1]):
                for v in np.unique(classes[:, k]):
                    idx = torch.from_numpy(np.nonzero(classes[:, k] == v)[0])
                    part = GaussianPosterior(post.mean[idx], post.logvar[idx])
                    out[idx, j, k] = log_aggregate([part], [code[idx]]) - log_bar[idx]
    return terms, null


def cpu_seconds(fn, repeats: int) -> tuple[float, object]:
    """Median CPU seconds of `fn(generator)` with the same seed each time, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.process_time()
        out = fn(generator=torch.Generator().manual_seed(1))
        times.append(time.process_time() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--latents", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"load average {os.getloadavg()[0]:.2f}, torch {torch.__version__}, 1 thread")  # fmt: skip
    for n in args.sizes:
        rng = np.random.default_rng(0)
        factors = np.stack([rng.integers(0, k, n) for k in CLASSES], axis=1)
        mean = torch.from_numpy(
            rng.normal(0, 1, (n, args.latents)) + 0.05 * factors[:, rng.integers(0, 5, args.latents)]
        )
        logvar = torch.from_numpy(rng.normal(-2, 0.5, (n, args.latents)))
        inputs = (mean, logvar, factors)
        fast, (ours, _, ours_null) = cpu_seconds(partial(factor_terms, *inputs), args.repeats)
        slow, (ref, ref_null) = cpu_seconds(partial(baseline_terms, *inputs), args.repeats)
        agree = max(float((ours - ref).abs().max()), float((ours_null - ref_null).abs().max()))
        print(f"N={n} D={args.latents} F={len(CLASSES)}: one pass {fast:.2f} s, per class {slow:.2f} s, "
              f"ratio {slow / fast:.1f}x, max |difference| {agree:.1e} nats")  # fmt: skip


if __name__ == "__main__":
    main()
