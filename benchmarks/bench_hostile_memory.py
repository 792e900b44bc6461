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
    .venv/bin/python benchmarks/bench_hostile_memory.py --data --before /work/base   # data corpus

`--data` runs every case of tests/test_hostile_data.py, plus the issue's full-size data (three sparse
16000² images, forty single-colour 8000² PNGs, an HDF5 of 60 gzip-zero 6000² images, an npz of 3M zero
rows, an HDF5 declaring 10^9 images) through `vmieval report --no-mi --limit 8`; with `--before TREE`
the full-size rows also run on another checkout (e.g. the starting commit) in the same session.
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


def full_size(folder: Path) -> dict[str, str]:
    """The issue's data cases at their real size (each file a few MB at most on disk)."""
    import h5py
    import numpy as np
    from hostile_data import class_folder, png_bytes, raw_npy, zeros_member_npz

    single = png_bytes(np.full((8000, 8000), 7, np.uint8))
    with h5py.File(folder / "zeros.h5", "w") as f:
        f.create_dataset("images", (60, 6000, 6000), "u1", chunks=(1, 1000, 1000), compression="gzip", fillvalue=0)
        f["images"].write_direct(np.zeros((1, 6000, 6000), np.uint8), dest_sel=np.s_[0:1])
    with h5py.File(folder / "declared.h5", "w") as f:
        f.create_dataset("images", (10**9, 28, 28), "u1")
    return {
        "3 sparse 16000² images (.npy)": raw_npy(folder / "sparse.npy", (3, 16000, 16000), sparse=3 * 16000**2),
        "40 single-colour 8000² PNGs": class_folder(folder / "pngs", {f"c/{i}.png": single for i in range(40)}),
        "HDF5 (60, 6000, 6000) gzip zeros": f"{folder / 'zeros.h5'}:images",
        "npz of 3M zero rows (28x28)": zeros_member_npz(folder / "rows.npz", 3 * 10**6, 28),
        "HDF5 declaring (1e9, 28, 28)": f"{folder / 'declared.h5'}:images",
    }


def data_rows(limit: int, before: Path | None) -> None:
    """Peak RSS of `report` on every hostile data case (and the full-size ones, before and after)."""
    from test_hostile_data import DATA_CASES

    trees = {"after": VMIEVAL, **({"before": before / ".venv" / "bin" / "vmieval"} if before else {})}
    print(f"{'case':40} {'tree':6} {'exit':>4} {'peak RSS':>10} {'s':>6}  message")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        honest = {"honest: mnist-sample (baseline)": "mnist-sample"}
        cases = {name: (build, True) for name, (build, _, _) in sorted(DATA_CASES.items())}
        sub = folder / "full"
        sub.mkdir()
        rows = [(n, d, False) for n, d in honest.items()] + [(n, d, True) for n, d in full_size(sub).items()]
        for name, (build, _) in cases.items():
            case = folder / name
            case.mkdir()
            rows.append((name, build(case), False))
        for name, data, compare in rows:
            for tree, exe in trees.items():
                if tree == "before" and not (compare or name.startswith("honest")):
                    continue
                out = folder / f"out-{tree}-{abs(hash(name))}"
                argv = [str(exe), "report", str(HONEST), "--data", data, "--no-mi", "--limit", "8", "--out", str(out)]
                code, rss, wall, message = run_child(argv, limit)
                print(f"{name[:40]:40} {tree:6} {code:>4} {rss:>7.0f} MiB {wall:>6.1f}  {message[-90:]}", flush=True)


if __name__ == "__main__":
    if "--data" in sys.argv:
        parser = argparse.ArgumentParser(description="peak RSS of report on hostile data")
        parser.add_argument("--data", action="store_true")
        parser.add_argument("--before", type=Path, default=None, help="another checkout to run the full-size rows on")
        parser.add_argument("--limit-gb", type=float, default=4.0, help="address-space limit of each child")
        options = parser.parse_args()
        torch.set_num_threads(1)
        print(f"machine: {machine()}")
        print(f"child address-space limit {options.limit_gb:g} GiB; peak RSS from os.wait4 (ru_maxrss)\n")
        data_rows(int(options.limit_gb * 2**30), options.before)
    else:
        main()
