"""CPU time and peak memory of `vmieval report MODEL --data FILE.npz --no-mi` on a file in dSprites' exact layout.

    .venv/bin/python benchmarks/make_dsprites_layout.py /tmp/dsprites_layout.npz         # once: 737,280 images
    .venv/bin/python benchmarks/bench_dsprites_report.py /tmp/dsprites_layout.npz          # the whole file
    .venv/bin/python benchmarks/bench_dsprites_report.py FILE --limit 100000 --baseline-src /work/base

Runs the command as a user would (a fresh process, one torch thread, the 64x64 fixture model
`sprites-gauss10-mi.pt`, factors on: the file carries `latents_classes`) and prints its user and system
CPU seconds and peak RSS (getrusage of the child: ru_maxrss), beside the same command from an older
tree when `--baseline-src` is given (its own .venv), and the machine. The targets of issue 21: at most
12 CPU-minutes and 2 GiB peak RSS for all 737,280 images. `--limit` runs N images drawn with
`--subsample-seed 0` (the report's own options) for a quicker figure; the factor matrix and the
streaming passes grow linearly in N.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "fixtures" / "models" / "sprites-gauss10-mi.pt"


def measure(vmieval: Path, data: Path, limit: int | None, out: Path) -> dict:
    """One report in a child process: CPU seconds, peak RSS (MiB), wall seconds and the factor summary."""
    cmd = [str(vmieval), "report", str(MODEL), "--data", str(data), "--no-mi", "--json", "--out", str(out), "--force"]
    cmd += ["--limit", str(limit), "--subsample-seed", "0"] if limit else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    doc = json.loads(done.stdout)
    model = doc[doc["attrs"]["models"][0]]
    factors = model.get("factors", {})
    return {
        "user_s": after.ru_utime - before.ru_utime,
        "sys_s": after.ru_stime - before.ru_stime,
        "peak_mib": after.ru_maxrss / 1024,  # the largest child so far: run the heavier side first
        "wall_s": wall,
        "n": factors.get("attrs", {}).get("n"),
        "mig": factors.get("mig", {}).get("value"),
        "histogram_mig": factors.get("histogram_mig", {}).get("value"),
        "estimator": factors.get("attrs", {}).get("estimator"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="a .npz in dSprites' layout (benchmarks/make_dsprites_layout.py)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--baseline-src", type=Path, default=None, help="an older worktree (its .venv is used)")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, one torch thread")
    sides = [("this tree", ROOT / ".venv" / "bin" / "vmieval")]
    if args.baseline_src:
        sides.append((f"baseline {args.baseline_src}", args.baseline_src / ".venv" / "bin" / "vmieval"))
    with tempfile.TemporaryDirectory() as tmp:
        for label, exe in sides:
            r = measure(exe, args.data, args.limit, Path(tmp) / label.replace(" ", "_").replace("/", "_"))
            cpu = r["user_s"] + r["sys_s"]
            print(f"{label}: N = {r['n']}, CPU {cpu:.0f} s ({cpu / 60:.1f} min; user {r['user_s']:.0f}, sys "
                  f"{r['sys_s']:.0f}), peak RSS {r['peak_mib']:.0f} MiB, wall {r['wall_s']:.0f} s, "
                  f"MIG {r['mig']:.4f}, histogram MIG {r['histogram_mig']:.4f}")  # fmt: skip
            print(f"  factor estimator: {r['estimator']}")


if __name__ == "__main__":
    main()
