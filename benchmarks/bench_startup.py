"""Start-up time of the command line, against Python's and torch's own, in one run.

    .venv/bin/python benchmarks/bench_startup.py                    # ratios on this machine
    .venv/bin/python benchmarks/bench_startup.py --baseline-src /tmp/baseline/src   # also an older tree

Each command runs `--repeats` times in a fresh interpreter, the commands interleaved so that a busy
machine slows them alike; the median wall time is reported. Targets (issue 10): `vmieval --help`
within 3x `python -c pass`, and `vmieval inspect` of a fixture within 1.5x `python -c "import torch"`
(inspect has to load the checkpoint with torch; it should cost little more).

`--baseline-src` times `--help` of another source tree (e.g. the code before lazy imports) with the
same interpreter and packages: its `vmieval/`, `cli/` and `trainers/` are copied into a temporary
folder in the installed layout and put first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "fixtures" / "models" / "sample-joint-mi.pt"
_SCRIPT = Path(sys.executable).parent / "vmieval"  # the console script a user runs
VMIEVAL = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "vmieval.cli.main"]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    from importlib.metadata import version

    from vmieval.cli.options import available_cores, default_threads

    return (
        f"{cpu}; {os.cpu_count()} logical cores ({available_cores()} available); Python {platform.python_version()}, "
        f"torch {version('torch')}; load average {os.getloadavg()[0]:.2f}; "
        f"vmieval default --threads {default_threads()}"
    )


def layout(src: Path, into: Path) -> Path:
    """`src`'s packages in the installed layout (vmieval/, vmieval/cli, vmieval/trainers) under `into`."""
    shutil.copytree(src / "vmieval", into / "vmieval")
    shutil.copytree(src / "cli", into / "vmieval" / "cli")
    shutil.copytree(src / "trainers", into / "vmieval" / "trainers")
    return into


def timed(cmd: list[str], env: dict[str, str] | None, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline-src", type=Path, default=None, help="another source tree to time --help of")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="vmieval-startup-"))
    cases: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "vmieval --help": ([*VMIEVAL, "--help"], None),
        'python -c "import torch"': ([sys.executable, "-c", "import torch"], None),
        "vmieval inspect sample-joint-mi.pt": ([*VMIEVAL, "inspect", str(FIXTURE)], None),
    }
    if args.baseline_src is not None:
        env = {**os.environ, "PYTHONPATH": str(layout(args.baseline_src, scratch / "baseline"))}
        cases["baseline: vmieval --help"] = ([*VMIEVAL, "--help"], env)
    try:
        times: dict[str, list[float]] = {name: [] for name in cases}
        for cmd, env in cases.values():  # warm the file cache once, untimed
            timed(cmd, env, scratch)
        for _ in range(args.repeats):
            for name, (cmd, env) in cases.items():
                times[name].append(timed(cmd, env, scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"machine: {machine()}")
    print(f"median of {args.repeats} runs each (interleaved), wall seconds:")
    for name, value in median.items():
        print(f"  {name:<40} {value:7.3f}   (min {min(times[name]):.3f}, max {max(times[name]):.3f})")
    help_ratio = median["vmieval --help"] / median["python -c pass"]
    inspect_ratio = median["vmieval inspect sample-joint-mi.pt"] / median['python -c "import torch"']
    print(f"vmieval --help / python -c pass           = {help_ratio:.2f}  (target <= 3)")
    print(f"vmieval inspect / python -c 'import torch' = {inspect_ratio:.2f}  (target <= 1.5)")
    if "baseline: vmieval --help" in median:
        speedup = median["baseline: vmieval --help"] / median["vmieval --help"]
        print(f"baseline --help / this --help             = {speedup:.1f}x")


if __name__ == "__main__":
    main()
