"""The subsampled factor matrix against the exact O(N²) one at N = 10k, on a real model's posteriors.

    .venv/bin/python benchmarks/bench_factor_sampling.py                 # N = 10000, M = 256 (the default)
    .venv/bin/python benchmarks/bench_factor_sampling.py --references 128 512

Encodes N generated sprites (seed 7) with the committed 64x64 fixture `sprites-gauss10-mi.pt`, then
computes I_q(z_j; v_k) [10, 5] twice from the same code draws: exact (`factor_terms`, every mixture
summed over all N images) and subsampled (`factor_mi(..., references=M)`). The difference of the two
is the subsampling error only (same codes), so it must lie within the subsampled matrix's stderr,
which contains that noise by construction: printed per cell as |Δ| / stderr, with the count of cells
beyond 1 and 2 stderr, the MIG of both, and CPU seconds of each (one torch thread, same run).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

MODEL = Path(__file__).resolve().parent.parent / "fixtures" / "models" / "sprites-gauss10-mi.pt"


def posteriors(n: int) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, tuple[str, ...]]:
    import vmieval
    from vmieval.synthetic.sprites import make_sprites

    model = vmieval.load(str(MODEL), device="cpu")
    sprites = make_sprites(n, seed=7)
    x = torch.from_numpy(sprites.images).float().div(255)[:, None]
    flat = torch.cat([model.encode_params(x[i : i + 256]) for i in range(0, n, 256)]).double()
    d = flat.shape[1] // 2
    return flat[:, :d], flat[:, d:], sprites.factors, sprites.factor_names


def main() -> None:
    from vmieval.estimators.factors import factor_mi, mig_from_matrix

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--references", type=int, nargs="+", default=[256])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, one torch thread")
    mean, logvar, factors, names = posteriors(args.n)
    start = time.process_time()
    exact, _ = factor_mi(mean, logvar, factors, torch.Generator().manual_seed(1), names)
    exact_s = time.process_time() - start
    exact_mig = mig_from_matrix(exact.values, exact.factor_entropy, names, "")
    print(f"N = {args.n}, D = {mean.shape[1]}, factors {names}")
    print(f"exact O(N²): {exact_s:.1f} CPU-s, MIG {exact_mig.value:.4f}")
    for m in args.references:
        start = time.process_time()
        fast, _ = factor_mi(mean, logvar, factors, torch.Generator().manual_seed(1), names, references=m)
        fast_s = time.process_time() - start
        ratio = np.abs(fast.values - exact.values) / fast.stderr
        mig = mig_from_matrix(fast.values, fast.factor_entropy, names, "")
        print(f"M = {m}: {fast_s:.1f} CPU-s ({exact_s / fast_s:.1f}x), max |Δ| = "
              f"{np.abs(fast.values - exact.values).max():.4f} nats, max |Δ|/stderr = {ratio.max():.2f}, "
              f"cells beyond 1 / 2 stderr: {(ratio > 1).sum()} / {(ratio > 2).sum()} of {ratio.size}, "
              f"mean Δ = {(fast.values - exact.values).mean():+.5f}, MIG {mig.value:.4f} "
              f"(Δ {mig.value - exact_mig.value:+.4f})")  # fmt: skip
        print("  |Δ|/stderr per cell (rows: latents, columns: " + ", ".join(names) + "):")
        print("  " + np.array2string(ratio, precision=1, suppress_small=True).replace("\n", "\n  "))


if __name__ == "__main__":
    main()
