"""The VMI-VAE paper's own protocol (presets `*-paper`): long, resumable runs, their evaluation and curves.

    # one model of an identically initialised pair (run elbo and mi side by side, one thread each):
    .venv/bin/python benchmarks/reproduce_paper.py train --preset mnist-joint-paper --seed 1 --objective mi
    .venv/bin/python benchmarks/reproduce_paper.py stop       # SIGTERM to every run: each checkpoints, then exits
    .venv/bin/python benchmarks/reproduce_paper.py collect    # report every checkpoint -> results.json/.md + PNG
    .venv/bin/python benchmarks/reproduce_paper.py quick      # smoke path: sample presets, tiny budget, temp dir

`train` writes `<runs>/<preset>/seed<S>/<preset>-<objective>.pt` (plus its resume sidecar) every
`--checkpoint-every` iterations and continues an existing one (`--resume` semantics: same settings,
a larger `--iterations` extends the budget). It records its pid in `<runs>/pids/`, so `stop` can
end it cleanly: on SIGTERM or SIGINT the current iteration finishes, the model is evaluated and
checkpointed, and the process exits 0. `collect` is `paper_results.py` (the evaluation half).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import torch
from reproduce import FASHION_DIR, MNIST_DIR  # a sibling script: benchmarks/ is on sys.path when run

ROOT = Path(__file__).resolve().parent
RUNS = ROOT / "runs" / "paper"
# The development machines keep MNIST in ../shared/data/mnist beside the repository.
DATA_DIRS = {"mnist": MNIST_DIR, "fashion": FASHION_DIR, "sample": None}


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), "unknown CPU")  # fmt: skip
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    threads = torch.get_num_threads()
    return f"{cpu}, {os.cpu_count()} logical cores, {threads} torch threads{gpu}, torch {torch.__version__}"


def checkpoint_path(runs: Path, preset: str, seed: int, objective: str) -> Path:
    return runs / preset / f"seed{seed}" / f"{preset}-{objective}.pt"


def train_one(args: argparse.Namespace) -> Path:
    """Train or continue one model; returns its checkpoint. Ends early and cleanly on SIGTERM/SIGINT."""
    from vmieval.trainers import resolve_config
    from vmieval.trainers.paper_loop import train_paper

    torch.set_num_threads(args.threads)
    prefix = args.preset.split("-", 1)[0]
    data_dir = args.data_dir if args.data_dir is not None else DATA_DIRS.get(prefix)
    overrides = {
        "objective": args.objective,
        "seed": args.seed,
        "iterations": args.iterations,
        "checkpoint_every": args.checkpoint_every,
        "eval_every": args.eval_every,
        "device": args.device,
        "data_dir": None if data_dir is None else str(data_dir),
        "limit": args.limit,
        "heldout": args.heldout,
        "eval_train_images": args.eval_train_images,
    }
    config = resolve_config(args.preset, **overrides)
    path = checkpoint_path(args.runs_dir, args.preset, args.seed, args.objective)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid_file = args.runs_dir / "pids" / f"{path.stem}-seed{args.seed}.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    stopping = {"asked": False}

    def ask_to_stop(signum: int, _frame: object) -> None:
        print(f"{signal.Signals(signum).name}: finishing the iteration, then checkpointing", flush=True)
        stopping["asked"] = True

    signal.signal(signal.SIGTERM, ask_to_stop)
    signal.signal(signal.SIGINT, ask_to_stop)
    print(f"{path}: {machine()}", flush=True)
    t0 = time.perf_counter()

    def log(event: object) -> None:
        record = getattr(event, "record", None)
        if record is not None:
            acc = record.get("acc_majority_train_paper")
            print(
                f"it {record['iteration']}  {record['seconds']:.0f}s  loss {record['train_loss']:.4f}  "
                f"ELBO {record['elbo']:.1f}  KL {record['kl']}  acc(paper) {acc}  "
                f"hungarian(test) {record.get('acc_hungarian_test')}",
                flush=True,
            )

    try:
        train_paper(config, path, resume=path.exists(), callback=log, stop=lambda: stopping["asked"])
    finally:
        pid_file.unlink(missing_ok=True)
    print(f"done in {time.perf_counter() - t0:.0f}s: {path}", flush=True)
    return path


def stop_all(runs: Path, wait: float) -> None:
    """SIGTERM every run recorded under `runs/pids`, then wait until each has checkpointed and exited."""
    pids = {f: int(f.read_text()) for f in sorted((runs / "pids").glob("*.pid"))}
    for f, pid in pids.items():
        try:
            os.kill(pid, signal.SIGTERM)
            print(f"asked {f.stem} (pid {pid}) to stop")
        except ProcessLookupError:
            f.unlink(missing_ok=True)
    deadline = time.monotonic() + wait
    while any(f.exists() for f in pids) and time.monotonic() < deadline:
        time.sleep(2)
    left = [f.stem for f in pids if f.exists()]
    print("all runs stopped" if not left else f"still running after {wait:.0f}s: {', '.join(left)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train or continue one model")
    t.add_argument("--preset", required=True)
    t.add_argument("--objective", choices=["elbo", "mi"], required=True)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--iterations", type=int, default=150_000)
    t.add_argument("--checkpoint-every", type=int, default=500)
    t.add_argument("--eval-every", type=int, default=500)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    t.add_argument("--data-dir", type=Path, default=None)
    t.add_argument("--limit", type=int, default=None, help="first N training images (smoke runs)")
    t.add_argument("--heldout", type=int, default=None, help="test images for the curves (default: all)")
    t.add_argument("--eval-train-images", type=int, default=None, help="train images for the majority-vote curve")
    t.add_argument("--runs-dir", type=Path, default=RUNS)
    s = sub.add_parser("stop", help="stop every run cleanly (each checkpoints first)")
    s.add_argument("--runs-dir", type=Path, default=RUNS)
    s.add_argument("--wait", type=float, default=600.0, help="seconds to wait for the checkpoints")
    c = sub.add_parser("collect", help="evaluate every checkpoint; results.json/.md and the curves PNG")
    c.add_argument("--runs-dir", type=Path, default=RUNS)
    c.add_argument("--out", type=Path, default=ROOT / "results")
    sub.add_parser("quick", help="smoke path: a sample pair, 40 iterations, temp dir")
    args = parser.parse_args()

    if args.command == "train":
        train_one(args)
    elif args.command == "stop":
        stop_all(args.runs_dir, args.wait)
    elif args.command == "collect":
        from paper_results import collect

        collect(args.runs_dir, args.out, command=" ".join(["benchmarks/reproduce_paper.py", *sys.argv[1:]]))
    else:
        from paper_results import quick

        quick(Path(tempfile.mkdtemp(prefix="vmieval-paper-")))


if __name__ == "__main__":
    main()
