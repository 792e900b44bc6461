"""How long does a default decoder-side bound take, against the code before a change and a fixed yardstick?

Each command runs as its own process (start-up counts, as a user sees it) with one thread
(`OMP_NUM_THREADS=1`, `--threads 1`); runs alternate between the build under test and the baseline
build, and each run's CPU seconds (user + system of the finished child, `wait4`) and wall seconds are
recorded. The CPU ratio is the figure to quote on a shared machine (other work inflates wall time far
more). Cases:
- `jointvae`: the default `report` on JointVAE's published MNIST checkpoint, the full 10k test set;
- `mi-bound`: the default `mi-bound` on the fixture MI model, beside the fixed 429.5-GFLOP
  single-thread matmul workload (`bench_mi_bound.py --workload`).
The 64x64 models' default `report` on 10,000 images is `bench_64px_report.py`.
`--variant NAME=ARGS` (repeatable) also runs the build under test with ARGS appended, for each case: how
the default cost policy was chosen (`--cases mi-bound --variant "20k-p4=--samples 20000 --patience 4"
--variant "3-folds=--folds 3" ... --out benchmarks/results/q_policy.json`).

    nice -n 5 .venv/bin/python benchmarks/bench_q_speed.py --base /work/base/.venv/bin/vmieval \\
        --jointvae /work/shared/data/jointvae-mnist/model.pt --data-dir /work/shared/data/mnist \\
        [--cases jointvae,mi-bound]
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

from bench_mi_bound import cpu_model  # a sibling script: benchmarks/ is on sys.path when run

ROOT = Path(__file__).resolve().parents[1]
NEW = ROOT / ".venv" / "bin" / "vmieval"
RESULTS = ROOT / "benchmarks" / "results" / "q_speed.json"


def run_once(args: list[str]) -> dict[str, float]:
    """Wall and CPU seconds of one process (its output goes to /dev/null; a failure stops the benchmark)."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp)
        _, status, usage = os.wait4(proc.pid, 0)
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed:\n{stderr[-2000:]}")
    return {"wall_s": time.perf_counter() - start, "cpu_s": usage.ru_utime + usage.ru_stime}


def commands(exe: str, case: str, a: argparse.Namespace) -> list[str]:
    if case == "jointvae":
        return [
            exe,
            "report",
            str(a.jointvae),
            "--data",
            "mnist",
            "--data-dir",
            str(a.data_dir),
            "--json",
            "--threads",
            "1",
        ]
    if case == "mi-bound":
        return [exe, "mi-bound", str(ROOT / "fixtures/models/sample-joint-mi.pt"), "--json", "--threads", "1"]
    raise ValueError(case)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the baseline build's vmieval executable")
    parser.add_argument("--new", default=str(NEW))
    parser.add_argument("--jointvae", type=Path, default=Path("/work/shared/data/jointvae-mnist/model.pt"))
    parser.add_argument("--data-dir", type=Path, default=Path("/work/shared/data/mnist"))
    parser.add_argument("--cases", default="jointvae,mi-bound")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variant", action="append", default=[], help="NAME=ARGS: the new build with ARGS too")
    parser.add_argument("--out", type=Path, default=RESULTS)
    a = parser.parse_args()
    variants = dict(v.split("=", 1) for v in a.variant)
    workload = [sys.executable, str(ROOT / "benchmarks" / "bench_mi_bound.py"), "--workload"]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for case in a.cases.split(","):
        runs: dict[str, list[dict[str, float]]] = {"new": [], "base": [], "workload": []}
        runs |= {f"new {name}": [] for name in variants}
        for _ in range(a.repeats):
            runs["new"].append(run_once(commands(a.new, case, a)))
            for name, extra in variants.items():
                runs[f"new {name}"].append(run_once(commands(a.new, case, a) + extra.split()))
            runs["base"].append(run_once(commands(a.base, case, a)))
            if case == "mi-bound":
                runs["workload"].append(run_once(workload))
        results[case] = {k: v for k, v in runs.items() if v}
        cpu = {k: min(r["cpu_s"] for r in v) for k, v in results[case].items()}
        line = f"{case}: new {cpu['new']:.1f} CPU-s"
        if "base" in cpu:
            line += f", base {cpu['base']:.1f} CPU-s, ratio {cpu['new'] / cpu['base']:.2f}x"
        if "workload" in cpu:
            line += f", matmul workload {cpu['workload']:.1f} CPU-s, new / workload {cpu['new'] / cpu['workload']:.2f}x"
            line += f", base / workload {cpu['base'] / cpu['workload']:.2f}x"
        line += "".join(f", new {name} {cpu[f'new {name}']:.1f} CPU-s" for name in variants)
        print(line, flush=True)
    doc = {"machine": {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "python": platform.python_version(),
                       "threads": 1, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
           "base": a.base, "new": a.new, "cases": results}  # fmt: skip
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(a.out)


if __name__ == "__main__":
    main()
