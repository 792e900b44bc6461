"""Kernel time of a streamed report: encode + ELBO decode of N 64x64 sprites by batch size and malloc setting.

    .venv/bin/python benchmarks/bench_streaming.py --n 20000 --baseline-src /work/base

Each variant runs in a fresh process (one torch thread): `encode_split` then `elbo_analysis`, the two
streaming passes of `vmieval report --no-mi` over a `.npz` of sprites, and prints user and system CPU
seconds (getrusage) and minor page faults. Large conv activations freed and reallocated every batch
go through mmap/munmap once they exceed glibc's (dynamic, at most 32 MiB) mmap threshold: each batch
then faults its pages in again, which shows as system time. Variants: the batch sizes (encode,
decode) and `mallopt` (`vmieval.allocator.tune_allocator`, what the CLI calls at start: mmap and
trim thresholds 1 GiB through ctypes, glibc only).
`--baseline-src` runs the same passes with an older tree's code (its own defaults) for a ratio in the
same run. The ELBO and KL must agree across variants (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MODEL = Path(__file__).resolve().parent.parent / "fixtures" / "models" / "sprites-gauss10-mi.pt"


def child(npz: str, encode: int, decode: int, mallopt: bool) -> None:
    if mallopt:
        from vmieval.allocator import tune_allocator

        assert tune_allocator(), "mallopt refused (not glibc?)"
    import torch

    import vmieval
    from vmieval.analysis.elbo import ElboConfig, elbo_analysis
    from vmieval.data import Fit, open_dataset
    from vmieval.encoded import encode_split

    torch.set_num_threads(1)
    model = vmieval.load(str(MODEL), device="cpu")
    data = open_dataset(npz, fit=Fit.for_spec(model.spec))
    before = resource.getrusage(resource.RUSAGE_SELF)
    split = encode_split(model, data, encode) if encode else encode_split(model, data)
    elbo = elbo_analysis(model, split, torch.Generator().manual_seed(0), ElboConfig(decode_batch=decode) if decode
                         else ElboConfig())  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
                      "faults": after.ru_minflt - before.ru_minflt, "elbo": elbo.elbo,
                      "peak_mb": after.ru_maxrss / 1024}))  # fmt: skip


def run(python: str, src: Path, npz: str, encode: int, decode: int, mallopt: bool) -> dict:
    cmd = [python, str(Path(__file__).resolve()), "--child", npz, str(encode), str(decode), str(int(mallopt))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(src) if src else os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--baseline-src", type=Path, default=None, help="an older worktree (its .venv is used)")
    args = parser.parse_args()
    from vmieval.synthetic.sprites import make_sprites, save_npz

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one torch thread")
    with tempfile.TemporaryDirectory() as tmp:
        npz = str(save_npz(Path(tmp) / "sprites.npz", make_sprites(args.n, seed=5)))
        variants: list[tuple[str, str, Path | None, int, int, bool]] = []
        if args.baseline_src:
            base_python = str(args.baseline_src / ".venv" / "bin" / "python")
            variants.append(("baseline (its defaults)", base_python, args.baseline_src, 0, 0, False))
        here = sys.executable
        variants += [
            ("defaults, allocator untouched", here, None, 0, 0, False),
            ("batch 256 / 256", here, None, 256, 256, False),
            ("batch 128 / 128", here, None, 128, 128, False),
            ("defaults + tune_allocator", here, None, 0, 0, True),
        ]
        print(f"{args.n} sprites 64x64, encode + ELBO decode (report --no-mi's streaming passes)")
        print(f"{'variant':30s} {'user s':>8s} {'sys s':>8s} {'sys %':>6s} {'faults':>10s} {'peak MB':>8s}  ELBO")
        for label, python, src, enc, dec, mallopt in variants:
            r = run(python, src, npz, enc, dec, mallopt)
            share = 100 * r["sys"] / (r["user"] + r["sys"])
            print(f"{label:30s} {r['user']:8.1f} {r['sys']:8.1f} {share:6.1f} {r['faults']:10d} {r['peak_mb']:8.0f}  "
                  f"{r['elbo']:.6f}")  # fmt: skip


if __name__ == "__main__":
    main()
