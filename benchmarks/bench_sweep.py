"""Sweep throughput: 12 small checkpoints through `vmieval sweep` against a shell loop of `vmieval report`.

The models: the two MNIST fixture models plus short `vmieval train-reference --preset sample-joint` pairs under
five seeds (trained once into --runs, reused after). The report settings are cheap on purpose (`--no-mi
--limit N`, or `--samples` for a small Q bound with `--mi`), so the figures show what the sweep layer changes:
one torch start-up per worker instead of one per model, several models at once, and a rerun that finds
everything in the cache. Each configuration runs in a fresh sweep folder; all are timed in this one run.

    .venv/bin/python benchmarks/bench_sweep.py [--limit 1000] [--mi] [--runs benchmarks/runs/bench-sweep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
VMIEVAL = [sys.executable, "-m", "vmieval.cli.main"]
FIXTURES = [REPO / "fixtures" / "models" / f"sample-joint-{o}.pt" for o in ("elbo", "mi")]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} logical cores, torch {torch.__version__}, load average {load:.1f} at start"


def checkpoints(runs: Path, seeds: int) -> list[Path]:
    """The fixture pair plus a one-epoch sample-joint pair per seed (trained once)."""
    paths = list(FIXTURES)
    for seed in range(1, seeds + 1):
        folder = runs / f"seed{seed}"
        pair = [folder / f"sample-joint-{o}.pt" for o in ("elbo", "mi")]
        if not all(p.exists() for p in pair):
            cmd = [*VMIEVAL, "train-reference", "--preset", "sample-joint", "--pair", "--epochs", "1"]
            cmd += ["--seed", str(seed), "--limit", "300", "--out", str(folder), "--force", "--quiet"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        paths += pair
    return paths


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=1000, help="images per report")
    parser.add_argument("--mi", action="store_true", help="with a small Q bound (--samples 500 --folds 2)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "bench-sweep")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "sweep.throughput.json")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    paths = checkpoints(args.runs, args.seeds)
    work = args.runs / "timing"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cheap = ["--data", "mnist-sample", "--limit", str(args.limit)]
    cheap += ["--samples", "500", "--folds", "2"] if args.mi else ["--no-mi"]
    # the baseline: what a user writes today, one process (one torch start-up) per model, JSON kept
    loop = "; ".join(
        f"{' '.join(VMIEVAL)} report {p} {' '.join(cheap)} --json > {work / f'{i}.json'}" for i, p in enumerate(paths)
    )
    figures: dict[str, float] = {"shell loop of vmieval report": timed(loop, shell=True)}

    def sweep(label: str, folder: str, *extra: str) -> None:
        cmd = [*VMIEVAL, "sweep", *map(str, paths), "--out", str(work / folder), *cheap, "--quiet", *extra]
        figures[label] = timed(cmd)

    sweep("vmieval sweep, local, 1 worker", "w1", "--workers", "1", "--threads", "1")
    sweep("vmieval sweep, local, 2 workers", "w2", "--workers", "2", "--threads", "1")
    sweep("vmieval sweep, ray (local), 2 workers", "ray", "--executor", "ray", "--workers", "2", "--threads", "1")
    sweep("rerun of the 2-worker sweep (all cached)", "w2", "--workers", "2", "--threads", "1")
    base = figures["shell loop of vmieval report"]
    result = {
        "machine": machine(),
        "models": len(paths),
        "report_options": cheap,
        "seconds": {k: round(v, 1) for k, v in figures.items()},
        "models_per_minute": {k: round(60 * len(paths) / v, 1) for k, v in figures.items()},
        "speedup_vs_shell_loop": {k: round(base / v, 2) for k, v in figures.items()},
    }
    print(json.dumps(result, indent=1))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
