"""Peak memory of a report on a large array: the split streamed (what `vmieval report` does now) vs
held in memory as float32 first (what it did before: `Dataset.to_memory()`), same model, same data.

Writes N unlabelled 64x64 uint8 images as `.npy`, builds a small Burgess model, then in a fresh
process per mode runs `build_report` without MI (encode, ELBO, traversals) and prints peak RSS (VmHWM)
minus a process that only imports and builds the model. The held mode's extra is about N * 64 * 64 * 4
bytes of float32 images; the streamed mode holds one batch of them. Also checks both give the same
ELBO and KL (the encoded numbers do not depend on the path).

    .venv/bin/python benchmarks/bench_report_memory.py --n 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

MODES = ("import", "held", "streamed")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("needs Linux /proc/self/status (VmHWM)")


def child(mode: str, npy: str) -> None:
    from vmieval.architectures import build_architecture
    from vmieval.data import Fit, open_dataset
    from vmieval.frozen import CheckpointInfo, FrozenVAE
    from vmieval.results import ReportConfig, build_report
    from vmieval.spec import ModelSpec, gaussian

    torch.set_num_threads(1)
    spec = ModelSpec((1, 64, 64), (gaussian("z", 4),), likelihood="bernoulli")
    torch.manual_seed(0)
    module = build_architecture("burgess", {"channels": 8, "hidden": 16}, spec)
    model = FrozenVAE.from_module(module, spec, CheckpointInfo("bench", "bench", "", "burgess"))
    data = open_dataset(npy, fit=Fit((1, 64, 64)))
    start = time.perf_counter()
    out: dict[str, float] = {}
    if mode != "import":
        source = data.to_memory() if mode == "held" else data
        report = build_report(model, source, "bench", ReportConfig(mi=None))
        out = {"elbo": report.elbo.elbo, "kl": report.elbo.kl_block["z"]}
    print(json.dumps({"mode": mode, "peak_mb": peak_rss_mb(), "seconds": time.perf_counter() - start, **out}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "NPY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        npy = Path(tmp) / "images.npy"
        np.save(npy, (rng.random((args.n, 64, 64)) < 0.1).astype(np.uint8) * np.uint8(255))
        rows = {}
        for mode in MODES:
            env = os.environ | {"OMP_NUM_THREADS": "1"}
            done = subprocess.run([sys.executable, __file__, "--child", mode, str(npy)], env=env, check=True,
                                  capture_output=True, text=True)  # fmt: skip
            rows[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    base = rows["import"]["peak_mb"]
    float_mb = args.n * 64 * 64 * 4 / 2**20
    print(f"N = {args.n} images of 64x64 (float32 copy: {float_mb:.0f} MiB); peak RSS above import + model:")
    for mode in ("held", "streamed"):
        r = rows[mode]
        print(
            f"  {mode:9s} {r['peak_mb'] - base:8.0f} MiB   {r['seconds']:6.1f} s   "
            f"ELBO {r['elbo']:.6f}  KL {r['kl']:.6f}"
        )
    held, streamed = rows["held"]["peak_mb"] - base, rows["streamed"]["peak_mb"] - base
    print(f"held / streamed extra memory: {held / max(streamed, 1e-9):.1f}x")
    same = rows["held"]["elbo"] == rows["streamed"]["elbo"] and rows["held"]["kl"] == rows["streamed"]["kl"]
    print(f"same ELBO and KL both ways: {same}")


if __name__ == "__main__":
    main()
