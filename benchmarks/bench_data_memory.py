"""Peak memory of reading a dSprites-sized array: streamed `Dataset.batches` vs loading it whole.

Writes a dSprites-like file (N 64x64 0/1 images with squares, `imgs` + `latents_classes`, as .npz
compressed and as .npy), then measures each way of reading it in a fresh process (peak RSS from
/proc VmHWM, minus a process that only imports torch and vmieval.data):
- `naive-npz`: `np.load(npz)["imgs"]` then one float32 tensor (the simple way: uint8 + float32 held);
- `to-memory`: `open_dataset(npz).to_memory()` (float32 once, filled batch by batch);
- `stream-npz` / `stream-npy`: `open_dataset(...).batches(512)` consumed one batch at a time.

    .venv/bin/python benchmarks/bench_data_memory.py --n 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MODES = ("import", "naive-npz", "to-memory", "stream-npz", "stream-npy")


def make_files(folder: Path, n: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    imgs = np.zeros((n, 64, 64), dtype=np.uint8)
    sizes = rng.integers(6, 20, n)
    xs, ys = rng.integers(0, 44, n), rng.integers(0, 44, n)
    for i in range(n):
        imgs[i, ys[i] : ys[i] + sizes[i], xs[i] : xs[i] + sizes[i]] = 1
    classes = np.stack([np.zeros(n), np.zeros(n), sizes, np.zeros(n), xs, ys], axis=1).astype(np.int64)
    npz, npy = folder / "sprites.npz", folder / "sprites.npy"
    np.savez_compressed(npz, imgs=imgs, latents_classes=classes, latents_values=classes.astype(np.float64))
    np.save(npy, imgs * np.uint8(255))  # a plain array means [0, 255]; dSprites' 0/1 only in its own layout
    return npz, npy


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM): unlike getrusage's ru_maxrss, it does not inherit the
    parent's peak across fork + exec, and the parent here holds the generated arrays."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("needs Linux /proc/self/status (VmHWM)")


def chunked_sum(images: torch.Tensor) -> float:
    """An exact pixel sum that allocates nothing large (sum(dtype=float64) would copy the whole tensor)."""
    return sum(float(images[i : i + 512].sum(dtype=torch.float64)) for i in range(0, len(images), 512))


def child(mode: str, npz: str, npy: str) -> None:
    from vmieval.data import open_dataset

    torch.set_num_threads(1)
    start = time.perf_counter()
    total = 0.0
    if mode == "naive-npz":
        with np.load(npz, allow_pickle=False) as f:
            imgs = f["imgs"]
        total = chunked_sum(torch.from_numpy(imgs).float())
    elif mode == "to-memory":
        total = chunked_sum(open_dataset(npz).to_memory().images)
    elif mode in ("stream-npz", "stream-npy"):
        for batch in open_dataset(npz if mode == "stream-npz" else npy).batches(512):
            total += float(batch.images.sum(dtype=torch.float64))
    peak_mb = peak_rss_mb()
    print(f"{peak_mb:.1f} {time.perf_counter() - start:.2f} {total:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="images (dSprites has 737,280)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "NPZ", "NPY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {ram_gb:.0f} GB RAM, "
          f"torch {torch.__version__}, 1 torch thread; N = {args.n} images of 64x64")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        npz, npy = make_files(Path(tmp), args.n)
        print(f"files: {npz.stat().st_size / 2**20:.1f} MB .npz, {npy.stat().st_size / 2**20:.1f} MB .npy; "
              f"uint8 {args.n * 4096 / 2**20:.0f} MB, float32 {args.n * 4096 * 4 / 2**20:.0f} MB")  # fmt: skip
        results = {}
        for mode in MODES:
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(npz), str(npy)],
                check=True, capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            results[mode] = (float(out[0]), float(out[1]), out[2])
    base = results["import"][0]
    print(f"{'mode':<12} {'peak RSS MB':>12} {'above import':>13} {'seconds':>8}  pixel sum")
    for mode, (peak, seconds, total) in results.items():
        print(f"{mode:<12} {peak:>12.0f} {peak - base:>13.0f} {seconds:>8.2f}  {total}")
    naive = results["naive-npz"][0] - base
    for mode in ("stream-npz", "stream-npy"):
        print(f"naive-npz / {mode} (memory above import): {naive / max(results[mode][0] - base, 1):.1f}x")
    print("stream-npy's peak counts the memory-mapped file's pages it touched: page cache the kernel can drop")


if __name__ == "__main__":
    main()
