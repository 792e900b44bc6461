"""How long does `vmieval report --compare` take on two models over the 10k MNIST test set, against
another build of vmieval (the code before a change), measured side by side in one run?

Both commands run the same report (the two committed fixture models, `--dataset mnist`, `--json`, a
fresh output folder each time) as separate processes, so start-up (imports) counts as a user sees
it. Runs alternate between the two builds, `--repeats` times each, with the same thread count
(`OMP_NUM_THREADS`, `MKL_NUM_THREADS`) for both; the best wall time of each is compared (the least
disturbed by other work on a shared machine), and the CPU time of each run (user + system, from
`wait4`) is printed beside it, which other processes disturb much less.

Both builds fit Q the same way: the build under test gets the Q settings the report had before the
one Q policy of `mi-bound` and `report` (`BEFORE_Q`: 3,000 pairs, a 128-wide Q, at most 10 epochs,
one Q rather than cross-fitted folds), so the ratio measures the report's machinery, not a bigger
fit; `--own-q` runs each build with its own defaults instead.

`--stages` splits each build's CPU time into imports, building the reports and writing the files,
in-process, with the calls both versions share (`build_report`, `write_outputs`, `ReportConfig`).
The import floor line is the CPU time of a process that only imports the libraries any version of
the report needs (torch, torch._dynamo, which the first `torch.optim` step imports, torchvision for
`make_grid`, scikit-learn's metrics and k-means, scipy.stats, matplotlib's Agg figure, h5py): what
no change inside vmieval can take away.

    .venv/bin/python benchmarks/bench_report_speed.py /tmp/baseline/venv/bin/vmieval \\
        --new /tmp/snapshot-venv/bin/vmieval --data-dir /work/shared/data/mnist --repeats 3 --threads 1 --stages
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_mi_bound import cpu_model  # a sibling script: benchmarks/ is on sys.path when run

ROOT = Path(__file__).resolve().parent.parent
MODELS = [ROOT / "fixtures" / "models" / f"sample-joint-{kind}.pt" for kind in ("elbo", "mi")]
# The report's Q settings before one policy (4a74e4a, `report_mi_config`), as `MIConfig` fields.
BEFORE_Q = {"samples": 3000, "max_epochs": 10, "patience": 3, "q_hidden": 128, "folds": 1}
FLOOR_MODULES = (
    "torch",
    "torch._dynamo",
    "torchvision.utils",
    "scipy.stats",
    "sklearn.metrics",
    "sklearn.cluster",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "h5py",
)


def q_args(q: dict[str, int]) -> list[str]:
    """`MIConfig` fields as the report's command-line options (`max_epochs` -> `--max-epochs 10`)."""
    return [item for name, value in q.items() for item in (f"--{name.replace('_', '-')}", str(value))]


def run_once(exe: str, data_dir: str, out: Path, env: dict[str, str], extra: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one `report --compare` (its JSON goes to /dev/null)."""
    args = [exe, "report", "--compare", *map(str, MODELS), "--dataset", "mnist", "--data-dir", data_dir,
            "--json", "--out", str(out), "--force", *extra]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{exe} failed:\n{stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


STAGES = """
import dataclasses, json, sys, tempfile, time
t0 = time.process_time()
import torch
torch.set_num_threads(int(sys.argv[2]))
from vmieval.checkpoints import load_checkpoint
from vmieval.data import load_images
from vmieval.results import ReportConfig, build_report, write_outputs
imports = time.process_time() - t0
q = json.loads(sys.argv[3])
config = ReportConfig(seed=0)
if q:
    config = dataclasses.replace(config, mi=dataclasses.replace(config.mi, **q))
models = [load_checkpoint(p) for p in sys.argv[4:]]
data = load_images("mnist", "test", data_dir=sys.argv[1])
t = time.process_time()
reports = [build_report(m, data, f"m{i}", config) for i, m in enumerate(models)]
build = time.process_time() - t
t = time.process_time()
written = write_outputs(reports, tempfile.mkdtemp(), force=True)
write = time.process_time() - t
print(f"imports {imports:.2f} s, build {build:.2f} s, write {write:.2f} s ({len(written.pngs)} PNGs), "
      f"total {time.process_time():.2f} CPU s")
"""

FLOOR = """
import importlib, sys, time
steps = []
for name in sys.argv[1:]:
    t = time.process_time()
    importlib.import_module(name)
    steps.append(f"{name} {time.process_time() - t:.2f}")
print(f"{time.process_time():.2f}|" + ", ".join(steps))
"""


def in_python(exe: str, code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `code` in the Python beside `exe`, not from the repository root, where `python -c` would
    import the working tree's vmieval."""
    python = str(Path(exe).parent / "python")
    return subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir()
    )


def stages(exe: str, data_dir: str, threads: int, q: dict[str, int], env: dict[str, str]) -> str:
    """CPU seconds per phase of the same report, in the Python beside `exe`."""
    done = in_python(exe, STAGES, [data_dir, str(threads), json.dumps(q), *map(str, MODELS)], env)
    return done.stdout.strip() or done.stderr.strip().splitlines()[-1]


def import_floor(exe: str, repeats: int, env: dict[str, str]) -> tuple[float, str]:
    """Least CPU seconds of a process that imports `FLOOR_MODULES` and nothing of vmieval, with the
    increments of the fastest run (in import order: each includes what the earlier ones left)."""
    runs = []
    for _ in range(repeats):
        done = in_python(exe, FLOOR, list(FLOOR_MODULES), env)
        if done.returncode != 0:
            return float("nan"), done.stderr.strip().splitlines()[-1]
        total, steps = done.stdout.strip().split("|")
        runs.append((float(total), steps))
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="the vmieval executable of the build to compare against")
    parser.add_argument("--new", default=shutil.which("vmieval", path=str(Path(sys.executable).parent)),
                        help="the vmieval executable under test (default: the one beside this Python)")  # fmt: skip
    parser.add_argument("--data-dir", default=os.environ.get("VMIEVAL_DATA", str(ROOT.parent / "shared/data/mnist")))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="OMP/MKL threads of both commands")
    parser.add_argument("--stages", action="store_true", help="also split each build's CPU time by phase")
    parser.add_argument("--own-q", action="store_true", help="each build fits Q with its own defaults")
    args = parser.parse_args()
    if not args.new:
        sys.exit("no vmieval beside this Python; pass --new")
    args.data_dir = str(Path(args.data_dir).resolve())  # the stages run from another folder
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    env.pop("PYTHONPATH", None)
    builds = {"before": args.baseline, "after": args.new}
    q = {"before": {}, "after": {} if args.own_q else BEFORE_Q}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in builds}
    with tempfile.TemporaryDirectory() as tmp:
        for name, exe in builds.items():  # one untimed run each: page cache, .pyc files
            run_once(exe, args.data_dir, Path(tmp) / name, env, q_args(q[name]))
        for _ in range(args.repeats):
            for name, exe in builds.items():
                times[name].append(run_once(exe, args.data_dir, Path(tmp) / name, env, q_args(q[name])))

    load = os.getloadavg()
    print(f"machine: {cpu_model()}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)")  # fmt: skip
    print(f"threads: OMP_NUM_THREADS = MKL_NUM_THREADS = {args.threads}; {args.repeats} alternating runs each")
    print(f"command: vmieval report --compare {' '.join(m.name for m in MODELS)} --dataset mnist (10k test images)")
    print(f"Q: before its own defaults; after {' '.join(q_args(q['after'])) or 'its own defaults'}")
    best: dict[str, tuple[float, float]] = {}
    for name, exe in builds.items():
        walls = sorted(w for w, _ in times[name])
        cpus = sorted(c for _, c in times[name])
        best[name] = (walls[0], cpus[0])
        print(f"{name:>6}: best wall {walls[0]:.2f} s (median {walls[len(walls) // 2]:.2f}), "
              f"best CPU {cpus[0]:.2f} s (median {cpus[len(cpus) // 2]:.2f})  [{exe}]")  # fmt: skip
    print(f"ratio after / before: wall {best['after'][0] / best['before'][0]:.2f}x, "
          f"CPU {best['after'][1] / best['before'][1]:.2f}x (target <= 0.6x)")  # fmt: skip
    floor, steps = import_floor(args.new, args.repeats, env)
    print(f"import floor: {floor:.2f} CPU s = {floor / best['before'][1]:.2f}x before's CPU ({steps})")
    if args.stages:
        for name, exe in builds.items():
            print(f"{name:>6} stages: {stages(exe, args.data_dir, args.threads, q[name], env)}")


if __name__ == "__main__":
    main()
