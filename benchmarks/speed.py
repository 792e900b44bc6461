"""How much does the trainer cost over plain torch, and how close is `mi-bound` to the hardware?

1. Trainer throughput (images/s) of the mnist-joint MI objective: `vmieval.trainers.train` timed
   between its per-step progress events (so data loading, checkpoint writing and the held-out
   evaluation are excluded), beside a minimal plain-torch loop written here that does the same
   math per batch: encoder MLP -> Gaussian + Gumbel-softmax samples -> decoder MLP -> Bernoulli
   ELBO; a Q step on the detached decoder mean; a VAE step on -ELBO - lam·(H_agg + E log Q(c|x_hat)).
   Same layer sizes, batch size, optimisers and thread count; the ratio is trainer / plain time.
2. `estimate_mi` wall time on the 10k MNIST test images beside this CPU's float32 matmul peak
   (the functions of `bench_mi_bound.py`).

    .venv/bin/python benchmarks/speed.py [--steps 300] [--data-dir ../shared/data/mnist] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_mi_bound import REFERENCE, cpu_model, matmul_peak, q_fit_flops, q_linear_macs, reference_model
from reproduce import MNIST_DIR
from torch import nn
from vmieval.trainers import TrainEvent, resolve_config, train

from vmieval.data import load_images
from vmieval.encoded import encode_split
from vmieval.estimators import MIConfig, estimate_mi

WARMUP = 20  # steps excluded from both timings (allocator and thread-pool warm-up)


def trainer_throughput(steps: int, data_dir: Path) -> tuple[float, int]:
    """Images/s of the real trainer over its steps after the first WARMUP.

    Runs as many 10k-image epochs as `steps` needs and sums the gaps between consecutive step
    events of the same epoch, so the per-epoch evaluation and checkpoint writes are left out.
    """
    base = resolve_config("mnist-joint", data_dir=str(data_dir), heldout=100, device="cpu")
    per_epoch = len(load_images("mnist", "train", str(data_dir))) // base.batch_size
    config = base.replace(epochs=math.ceil(steps / per_epoch))
    gaps: list[float] = []
    last: list[float | None] = [None]

    def on_event(event: TrainEvent) -> None:
        now = time.perf_counter()
        if event.kind == "step":
            if last[0] is not None and event.step > WARMUP:
                gaps.append(now - last[0])
            last[0] = now
        else:
            last[0] = None  # an epoch boundary: evaluation and checkpointing follow

    with tempfile.TemporaryDirectory() as tmp:
        train(config, Path(tmp) / "speed.pt", callback=on_event)
    gaps = gaps[: steps - WARMUP]
    return len(gaps) * config.batch_size / sum(gaps), config.batch_size


def mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def plain_throughput(images: torch.Tensor, steps: int, batch: int, lam: float, seed: int = 0) -> float:
    """The same objective in plain torch: z16 + c10, MLP 784-512-256, Q 784-512-256-10, Adam 1e-3."""
    torch.manual_seed(seed)
    zdim, k, tau = 16, 10, 1.0
    enc, dec = mlp([784, 512, 256, 2 * zdim + k]), mlp([zdim + k, 256, 512, 784])
    q = mlp([784, 512, 256, k])
    opt_vae = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    opt_q = torch.optim.Adam(q.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=g)
    t0 = 0.0
    for i in range(steps):
        if i == WARMUP:
            t0 = time.perf_counter()
        x = images[order[(i * batch) % len(images) :][:batch]].flatten(1)
        h = enc(x)
        mean, logvar, logits = h[:, :zdim], h[:, zdim : 2 * zdim], h[:, 2 * zdim :]
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g)
        log_p = F.log_softmax(logits, dim=1)
        u = torch.rand(log_p.shape, generator=g).clamp_(1e-10, 1.0 - 1e-7)
        c = F.softmax((log_p - torch.log(-torch.log(u))) / tau, dim=1)
        out = dec(torch.cat([z, c], dim=1))
        log_px = -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(1) + (log_p.exp() * log_p).sum(1) + math.log(k)
        x_hat = torch.sigmoid(out)

        q.requires_grad_(True)
        opt_q.zero_grad(set_to_none=True)
        loss_q = -(c.detach() * F.log_softmax(q(x_hat.detach()), dim=1)).sum(1).mean()
        loss_q.backward()
        opt_q.step()

        opt_vae.zero_grad(set_to_none=True)
        q.requires_grad_(False)
        log_agg = torch.logsumexp(log_p, dim=0) - math.log(len(x))
        h_agg = -(log_agg.exp() * log_agg).sum()
        bound = h_agg + (c * F.log_softmax(q(x_hat), dim=1)).sum(1).mean()
        loss = -(log_px - kl).mean() - lam * bound
        loss.backward()
        opt_vae.step()
    return (steps - WARMUP) * batch / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2, help="alternating trainer/plain runs; best of each")
    parser.add_argument("--data-dir", type=Path, default=MNIST_DIR)
    parser.add_argument("--checkpoint", type=Path, default=REFERENCE)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")  # fmt: skip

    train_images = load_images("mnist", "train", str(args.data_dir)).images
    ours, plain = [], []
    for _ in range(args.repeats):
        rate, batch = trainer_throughput(args.steps, args.data_dir)
        ours.append(rate)
        plain.append(plain_throughput(train_images, args.steps, batch, lam=resolve_config("mnist-joint").lam))
    print(f"trainer (mnist-joint MI, batch {batch}, steps {WARMUP}..{args.steps}): "
          f"{max(ours):,.0f} images/s (runs: {', '.join(f'{r:,.0f}' for r in ours)})")  # fmt: skip
    print(f"plain torch, same math:                              {max(plain):,.0f} images/s "
          f"(runs: {', '.join(f'{r:,.0f}' for r in plain)})")  # fmt: skip
    print(f"ratio trainer time / plain time: {max(plain) / max(ours):.3f}x (target <= 1.1x)")

    model, note = reference_model(args.checkpoint)
    data = load_images("mnist", "test", str(args.data_dir))
    peak = matmul_peak()
    t0 = time.perf_counter()
    result = estimate_mi(model, encode_split(model, data), MIConfig())  # encoding is timed too
    wall = time.perf_counter() - t0
    phases = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
    print(f"estimate_mi (mi-bound) on {len(data)} MNIST test images, default MIConfig ({MIConfig.samples} pairs), "
          f"model {note}: {wall:.2f} s; phases {phases}")  # fmt: skip
    print(f"float32 matmul peak: {peak / 1e9:.1f} GFLOP/s (2048^2 matmul, best of 8)")
    if result.qbound is not None:
        # Q-fit arithmetic counted exactly, as in bench_mi_bound.py
        curve, macs = result.qbound.curve, q_linear_macs(model, result.target, MIConfig())
        rate = q_fit_flops(macs, curve.samples_trained, curve.samples_scored) / curve.seconds
        print(f"Q fit: {rate / 1e9:.1f} GFLOP/s = {rate / peak:.0%} of the matmul peak")


if __name__ == "__main__":
    main()
