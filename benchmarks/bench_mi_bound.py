"""How fast is `estimate_mi` on 10,000 MNIST test images, and how close is the Q fit to the hardware?

Times every phase of `vmieval.estimators.estimate_mi` (default MIConfig: 20,000 generated pairs,
MLP Q, early stopping) on an MLP reference model, and measures the machine's float32 matmul peak in
the same process (best of several large torch.matmul calls, same thread count), so the Q fit's
achieved FLOP/s can be read as a fraction of what this CPU can do.

Q-fit FLOPs are counted exactly for the MLP Q's linear layers (they are >99% of its arithmetic):
2·Σ(in·out) per pair forward; a training step adds the weight gradients (2·Σ(in·out)) and the input
gradients of every layer but the first (its input is data: 2·Σ(in·out) − 2·in₁·out₁), so
6·Σ(in·out) − 2·in₁·out₁ per trained pair (counting 6·Σ, as this script once did, overstates the MNIST
Q's figure by 1.3x), times the pairs trained on and scored during validation. Q's input is the image
after the cost policy's front end (`decoder/policy.py`).

`--workload` instead runs the fixed yardstick the mi-bound speed target is stated against: 25 float32
matmuls of 2048² (25·2·2048³ = 429.5 GFLOP) on one thread; time it as a whole process beside
`vmieval mi-bound` (both with OMP_NUM_THREADS=1) and compare CPU seconds.

    .venv/bin/python benchmarks/bench_mi_bound.py [--checkpoint /tmp/ref/mnist-joint-mi.pt]
        [--data-dir ../shared/data/mnist] [--target c] [--samples 20000] [--batch-size B] [--lr LR] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from torch import nn

from vmieval import load
from vmieval.architectures import build_architecture
from vmieval.data import load_images
from vmieval.encoded import encode_split
from vmieval.estimators import MIConfig, estimate_mi
from vmieval.estimators.decoder.policy import front_pool
from vmieval.estimators.decoder.qnet import QNetwork, q_parts
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import parse_target

REFERENCE = Path("/tmp/ref/mnist-joint-mi.pt")
MNIST_DIR = Path(os.environ.get("VMIEVAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def matmul_peak(n: int = 2048, repeats: int = 8) -> float:
    """Best float32 FLOP/s of an [n, n] @ [n, n] product (2·n³ FLOPs) over `repeats` calls."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=g), torch.randn(n, n, generator=g)
    torch.matmul(a, b)  # warm-up: thread pool and allocator
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def reference_model(path: Path) -> tuple[FrozenVAE, str]:
    """The trained reference if present, else a freshly initialised MLP of the mnist-joint spec."""
    if path.exists():
        return load(path), f"{path} (trained reference)"
    from vmieval.trainers import get_preset

    preset = get_preset("mnist-joint")
    torch.manual_seed(0)
    module = build_architecture(preset.architecture, preset.arch_config, preset.spec())
    info = CheckpointInfo("fresh", "none", "", preset.architecture)
    note = f"freshly initialised {preset.architecture} {preset.arch_config} of the mnist-joint spec ({path} absent)"
    return FrozenVAE.from_module(module, preset.spec(), info), note


def q_linear_macs(model: FrozenVAE, target: str, config: MIConfig) -> list[int]:
    """in·out of each of the MLP Q's linear layers, in order: multiply-adds per pair in one forward pass."""
    shape = model.spec.observation_shape
    pool = front_pool(shape, config.q_front)
    parts = q_parts(model.spec, parse_target(target, model.spec))
    q = QNetwork(shape, parts, "mlp", config.q_hidden, pool)
    return [m.in_features * m.out_features for m in q.modules() if isinstance(m, nn.Linear)]


def q_fit_flops(macs: list[int], trained: int, scored: int) -> float:
    """Exact FLOPs of the Q fit: (6·Σ − 2·first layer) per trained pair, 2·Σ per scored pair."""
    return (6 * sum(macs) - 2 * macs[0]) * trained + 2 * sum(macs) * scored


WORKLOAD_N, WORKLOAD_CALLS = 2048, 25  # 25 · 2 · 2048³ = 429.5 GFLOP


def matmul_workload() -> float:
    """The fixed single-thread yardstick: WORKLOAD_CALLS float32 [N, N] @ [N, N] products; its GFLOP."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(WORKLOAD_N, WORKLOAD_N, generator=g), torch.randn(WORKLOAD_N, WORKLOAD_N, generator=g)
    for _ in range(WORKLOAD_CALLS):
        torch.matmul(a, b)
    return WORKLOAD_CALLS * 2 * WORKLOAD_N**3 / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=REFERENCE)
    parser.add_argument("--data-dir", type=Path, default=MNIST_DIR)
    parser.add_argument("--target", default=None)
    parser.add_argument("--samples", type=int, default=MIConfig.samples)
    parser.add_argument("--batch-size", type=int, default=MIConfig.batch_size)
    parser.add_argument("--lr", type=float, default=MIConfig.lr)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--workload", action="store_true", help="run only the fixed 429.5-GFLOP matmul yardstick")
    args = parser.parse_args()
    if args.workload:
        t0 = time.process_time()
        gflop = matmul_workload()
        print(f"matmul workload: {gflop:.1f} GFLOP in {time.process_time() - t0:.2f} CPU-s, 1 thread")
        return
    if args.threads:
        torch.set_num_threads(args.threads)

    model, model_note = reference_model(args.checkpoint)
    data = load_images("mnist", "test", data_dir=args.data_dir)
    config = MIConfig(target=args.target, samples=args.samples, batch_size=args.batch_size, lr=args.lr)
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads")  # fmt: skip
    print(f"model:   {model_note}")
    print(f"data:    {data.name} {data.split}, N={len(data)} ({data.source})")

    peak = matmul_peak()
    t0 = time.perf_counter()
    result = estimate_mi(model, encode_split(model, data), config)  # encoding is timed too
    total = time.perf_counter() - t0
    peak_after = matmul_peak()

    print(f"target:  {result.target}, {config.samples} pairs, Q=mlp(hidden={config.q_hidden}), "
          f"batch {config.batch_size}")  # fmt: skip
    print("phase times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items()) + f"; total {total:.2f}")
    if result.qbound is not None:
        curve = result.qbound.curve
        macs = q_linear_macs(model, result.target, config)
        flops = q_fit_flops(macs, curve.samples_trained, curve.samples_scored)
        rate = flops / curve.seconds
        best_peak = max(peak, peak_after)
        print(f"Q fit:   {len(curve.val_log_q)} epochs (best {curve.best_epoch}), {curve.samples_trained:,} pairs "
              f"trained, {flops / 1e9:.1f} GFLOP in {curve.seconds:.2f} s = {rate / 1e9:.1f} GFLOP/s")  # fmt: skip
        print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s before, {peak_after / 1e9:.1f} after; "
              f"Q fit reaches {rate / best_peak:.0%} of the best")  # fmt: skip
    for e in result.estimates():
        flag = "" if e.valid else "  (not a valid bound)"
        print(f"  {e.quantity:18s} {e.kind:12s} {e.value:8.4f} ± {e.stderr:.4f}  {e.estimator}{flag}")
    for w in result.warnings:
        print(f"warning: {w}")


if __name__ == "__main__":
    main()
