"""Images/s of the paper presets' training step beside a minimal plain-torch loop of the same math.

Ours: `PaperRun.step` of `mnist-joint-paper` (MI model; `--preset` picks another), i.e. one VAE step
(conv+BN encoder -> Gaussian + Gumbel-softmax samples -> conv decoder -> mean-MSE + kl_w·KL + the MI
cross-entropies through Q) and one Q step on a fresh no-grad pass. Plain: the same layers, losses,
batch, Adam settings and thread count, written here in ~60 lines of torch with no trainer around it.
Both run on the same random batches, alternating in rounds (so load from other jobs hits both
alike), after `--warmup` untimed steps each; the ratio is ours / plain time per image.

Variants (`--variants`): `channels_last` (NHWC memory for nets and batches), `foreach` and `fused`
Adam, `compile` (torch.compile of both loss functions; costs minutes to compile on a slow CPU).
Each is measured on the plain loop against the plain default, so the table says what each buys on
this machine; the trainer adopts only what measures faster (see benchmarks/README.md).

    .venv/bin/python benchmarks/bench_conv_throughput.py --threads 1 --steps 30 --rounds 3
    .venv/bin/python benchmarks/bench_conv_throughput.py --device cuda --steps 200   # same presets on a GPU
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from reproduce_paper import machine
from torch import nn
from vmieval.trainers.paper_loop import PaperRun
from vmieval.trainers.presets import resolve_config

Step = Callable[[torch.Tensor], object]


def lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2)


def plain_nets(zdim: int = 16, k: int = 10) -> tuple[nn.Module, nn.Module, nn.Module]:
    """Encoder, decoder (Linear -> [64, 7, 7] -> convT) and Q of the paper, as bare Sequentials."""
    enc = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.BatchNorm2d(64), lrelu(), nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128),
        lrelu(), nn.Flatten(), nn.Linear(6272, 512), nn.BatchNorm1d(512), lrelu(), nn.Linear(512, 2 * zdim + k),
    )  # fmt: skip
    dec = nn.Sequential(
        nn.Linear(zdim + k, 512), nn.BatchNorm1d(512), lrelu(), nn.Linear(512, 3136), nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), lrelu(), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh(),
    )  # fmt: skip
    q = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.BatchNorm2d(64), lrelu(), nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128),
        lrelu(), nn.Conv2d(128, 128, 7), nn.BatchNorm2d(128), lrelu(), nn.Flatten(), nn.Linear(128, k + 4),
    )  # fmt: skip
    return enc, dec, q


def plain_step(device: torch.device, variant: str, zdim: int = 16, k: int = 10) -> Step:
    """The joint paper MI step in plain torch: MI on c (weight 0.01) and z[0:2] (0.0005), kl_w 0.005."""
    torch.manual_seed(0)
    enc, dec, q = (m.to(device) for m in plain_nets(zdim, k))
    fmt = torch.channels_last if variant == "channels_last" else torch.contiguous_format
    for m in (enc, dec, q):
        m.to(memory_format=fmt)
    adam = {"foreach": {"foreach": True}, "fused": {"fused": True}}.get(variant, {"foreach": False})
    opt_vae = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-4, **adam)
    opt_q = torch.optim.Adam(q.parameters(), lr=1e-4, **adam)

    def sample(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = enc(x)
        mean, logvar, logits = out[:, :zdim], 2 * out[:, zdim : 2 * zdim], out[:, 2 * zdim :]
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
        u = torch.rand_like(logits).clamp_(1e-10, 1.0 - 1e-7)
        c = F.softmax(F.log_softmax(logits, 1) - torch.log(-torch.log(u)), dim=1)
        return dec(torch.cat([z, c], 1)), z, c, mean, logvar, logits

    def ces(x_hat: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = q(x_hat)
        ce_c = -(c * F.log_softmax(out[:, :k], 1)).sum(1).mean()
        m, lv = out[:, k : k + 2], out[:, k + 2 :].clamp(-10, 10)
        nll_z = (0.5 * ((z[:, :2] - m).pow(2) * torch.exp(-lv) + lv + math.log(2 * math.pi))).sum(1).mean()
        return ce_c, nll_z

    def vae_loss(x: torch.Tensor) -> torch.Tensor:
        x_hat, z, c, mean, logvar, logits = sample(x)
        kl_z = (0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar)).sum(1).mean()
        log_p = F.log_softmax(logits, 1)
        kl_c = ((log_p.exp() * log_p).sum(1) + math.log(k)).mean()
        ce_c, nll_z = ces(x_hat, z, c)
        return F.mse_loss(x_hat, x) + 0.005 * (kl_z + kl_c) + 0.01 * ce_c + 0.0005 * nll_z

    def q_loss(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x_hat, z, c, *_ = sample(x)
        ce_c, nll_z = ces(x_hat, z, c)
        return ce_c + nll_z

    if variant == "compile":
        vae_loss, q_loss = torch.compile(vae_loss), torch.compile(q_loss)

    def step(x: torch.Tensor) -> None:
        x = x.contiguous(memory_format=fmt)
        q.requires_grad_(False)
        loss = vae_loss(x)
        q.requires_grad_(True)
        opt_vae.zero_grad(set_to_none=True)
        loss.backward()
        opt_vae.step()
        opt_q.zero_grad(set_to_none=True)
        q_loss(x).backward()
        opt_q.step()

    return step


def trainer_step(preset: str, device: torch.device) -> Step:
    config = resolve_config(preset, device=device.type, data_dir=None)
    run = PaperRun(config, device)
    return lambda x: run.step(x, config.temperature_start)


def seconds_per_step(step: Step, batches: list[torch.Tensor], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for x in batches:
        step(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="mnist-joint-paper")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per round and loop")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--variants", nargs="*", default=["channels_last", "foreach", "fused"])
    parser.add_argument("--budget", type=int, default=150_000, help="iterations to extrapolate the wall time to")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batch = resolve_config(args.preset).batch_size
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.rand(batch, 1, 28, 28, generator=gen) * 2 - 1).to(device) for _ in range(args.steps)]
    loops = {"ours": trainer_step(args.preset, device), "plain": plain_step(device, "default")}
    loops.update({f"plain+{v}": plain_step(device, v) for v in args.variants})
    for step in loops.values():
        seconds_per_step(step, batches[: args.warmup], device)
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(args.rounds):
        for name, step in loops.items():
            times[name].append(seconds_per_step(step, batches, device))

    print(f"machine: {machine()}")
    print(f"{args.preset}, batch {batch}, {args.steps} steps x {args.rounds} rounds after {args.warmup} warm-up")
    best = {name: min(t) for name, t in times.items()}
    for name, t in times.items():
        runs = ", ".join(f"{batch / s:,.0f}" for s in t)
        median = batch / statistics.median(t)
        print(f"{name:22s} {batch / best[name]:8,.0f} images/s  (rounds: {runs}; median {median:,.0f})")
    ratio = best["ours"] / best["plain"]
    print(f"ratio ours / plain (time per image): {ratio:.3f}x (target <= 1.1x)")
    for name in loops:
        if name.startswith("plain+"):
            print(f"{name} vs plain: {best['plain'] / best[name]:.3f}x speed")
    hours = args.budget * best["ours"] / 3600
    print(f"extrapolated wall time of {args.budget:,} iterations (training steps only): {hours:.1f} h")


if __name__ == "__main__":
    main()
