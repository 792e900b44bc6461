"""Peak memory of refusing hostile checkpoints, against loading the honest fixture in the same run.

Each hostile file from tests/hostile_files.py (a stride-0 view of 30000 x 30000 floats, a spec of 2000
blocks of 4096 dims, a zip whose pickle inflates to 1 GiB, a 40-byte `bytearray(3e9)` pickle, ...) goes
through `vmieval inspect` and `vmieval mi-bound` in a fresh subprocess; the child's peak RSS comes from
`os.wait4` (the per-child form of `getrusage(RUSAGE_CHILDREN)`). Rows: exit code, peak RSS, and its
ratio to the same command on the honest fixture `fixtures/models/sample-joint-mi.pt`; a
`python -c "import torch"` row shows the floor every command pays.

Each child runs under an address-space limit (--limit-gb, default 16), so a guard that fails shows up
as a failed row instead of taking the machine down.

    .venv/bin/python benchmarks/bench_hostile_memory.py            # 1 GiB bombs, both commands
    .venv/bin/python benchmarks/bench_hostile_memory.py --bomb-mb 64 --commands inspect   # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import hostile_files as hostile  # noqa: E402

HONEST = REPO / "fixtures" / "models" / "sample-joint-mi.pt"
VMIEVAL = Path(sys.executable).with_name("vmieval")
MI_ARGS = ("--dataset", "mnist-sample", "--limit", "200", "--samples", "200", "--max-epochs", "1")


def run_child(argv: list[str], limit_bytes: int) -> tuple[int, float, float, str]:
    """(exit code, peak RSS in MiB, wall seconds, first stderr line) of one command in a fresh process."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=cap, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").strip().splitlines()
    return proc.returncode, usage.ru_maxrss / 1024, time.perf_counter() - t0, (lines[-1] if lines else "")


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.platform()}, {os.cpu_count()} CPUs, {mem:.0f} GiB RAM, Python {platform.python_version()}, "
            f"torch {torch.__version__}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bomb-mb", type=int, default=1024, help="inflated size of the zip bombs (MiB)")
    parser.add_argument("--commands", default="inspect,mi-bound")
    parser.add_argument("--limit-gb", type=float, default=16.0, help="address-space limit of each child")
    args = parser.parse_args()
    torch.set_num_threads(1)
    limit = int(args.limit_gb * 2**30)
    bomb = args.bomb_mb << 20
    builders = {
        "stride0 (30000x30000 view)": hostile.stride0,
        "stride0, JointVAE keys": hostile.stride0_jointvae,
        "spec of 2000 x 4096 dims": hostile.spec_blocks,
        f"zip bomb, pickle +{args.bomb_mb} MiB": lambda d: hostile.zip_bomb(d, bomb),
        f"zip bomb, extra member {args.bomb_mb} MiB": lambda d: hostile.deflated_zeros_member(d, bomb),
        "bytearray(3e9) pickle": hostile.bytearray_gadget,
        "legacy, storage 4 GB declared": hostile.legacy_declares_more,
    }
    print(f"machine: {machine()}")
    print(f"child address-space limit {args.limit_gb:g} GiB; peak RSS from os.wait4 (ru_maxrss)\n")
    floor = run_child([sys.executable, "-c", "import torch"], limit)
    print(f"{'file':40} {'size':>10} {'command':9} {'exit':>4} {'peak RSS':>10} {'x honest':>8} {'s':>5}  message")
    floor_name = 'python -c "import torch"'
    print(f"{floor_name:40} {'':>10} {'':9} {floor[0]:>4} {floor[1]:>7.0f} MiB {'':>8} {floor[2]:>5.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"honest fixture (baseline)": HONEST}
        for name, build in builders.items():
            sub = folder / str(len(files))
            sub.mkdir()
            files[name] = build(sub)
        for command in args.commands.split(","):
            extra = MI_ARGS if command == "mi-bound" else ()
            baseline = None
            for name, path in files.items():
                code, rss, wall, message = run_child([str(VMIEVAL), command, str(path), *extra], limit)
                baseline = baseline or rss
                size = path.stat().st_size
                said = message[len(str(path)) + 9 :][:70] if code else ""  # the error line after "error: PATH: "
                print(f"{name:40} {size / 1024:>7.0f} KB {command:9} {code:>4} {rss:>7.0f} MiB "
                      f"{rss / baseline:>8.2f} {wall:>5.1f}  {said}")  # fmt: skip


if __name__ == "__main__":
    main()
