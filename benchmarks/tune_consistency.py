"""One tuning run of the joint preset (z16 + c10, MI on c): train, score, append a line to results/tuning.jsonl.

Scores the Hungarian accuracy of argmax q(c|x) on the whole test split after every epoch (printed, and
the curve kept in the jsonl line), and records the last epoch's held-out ELBO, I_q(x;c) and KLs from the
training history, as the earlier lines of tuning.jsonl do. Set the torch thread count with --threads
(one per run: the development machine has two cores shared between runs).

    .venv/bin/python benchmarks/tune_consistency.py --name Q1_cons1 --epochs 5 --set consistency=1
    .venv/bin/python benchmarks/tune_consistency.py --name Q1_cons1_elbo --objective elbo --epochs 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from reproduce import FASHION_DIR, MNIST_DIR  # a sibling script: benchmarks/ is on sys.path when run
from vmieval.trainers import resolve_config, train
from vmieval.trainers.loop import TrainEvent

from vmieval.analysis.cluster import hungarian_accuracy
from vmieval.data import ImageData, load_images
from vmieval.distributions import CategoricalPosterior

ROOT = Path(__file__).resolve().parent
DATA = {"mnist": MNIST_DIR, "fashion": FASHION_DIR}


@torch.no_grad()
def test_accuracy(path: Path, data: ImageData, labels: np.ndarray) -> float:
    """Hungarian accuracy of argmax q(c|x) of the checkpoint at `path` on `data`."""
    from vmieval import load_checkpoint
    from vmieval.encoded import encode_split

    post = encode_split(load_checkpoint(path), data).posterior
    cat = next(p for p in post.values() if isinstance(p, CategoricalPosterior))
    return hungarian_accuracy(cat.logits.argmax(dim=1).numpy(), labels, cat.size)[0]


def parse_value(raw: str) -> object:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--preset", default="mnist-joint")
    parser.add_argument("--dataset", choices=sorted(DATA), default="mnist")
    parser.add_argument("--objective", choices=["mi", "elbo"], default="mi")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="TrainConfig field=value (JSON value)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "runs" / "tuning")
    parser.add_argument("--log", type=Path, default=ROOT / "results" / "tuning.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    overrides = {k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
    overrides.update(epochs=args.epochs, seed=args.seed)
    if args.objective == "elbo":
        overrides["objective"] = "elbo"
    config = resolve_config(args.preset, data_dir=str(DATA[args.dataset]), device="cpu", **overrides)
    test = load_images(config.dataset, "test", config.data_dir)
    labels = np.asarray(test.labels)
    path = args.out_dir / f"{args.name}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    curve: list[float] = []

    def on_event(event: TrainEvent) -> None:
        if event.kind == "epoch" and event.record is not None:
            curve.append(test_accuracy(path, test, labels))
            r = event.record
            print(f"{args.name} epoch {r['epoch']}: acc {curve[-1]:.4f} elbo {r['elbo']:.1f} "
                  f"iq {r['iq_exact']} kl {r['kl']} {r['seconds']:.0f}s", flush=True)  # fmt: skip

    t0 = time.perf_counter()
    result = train(config, path, force=True, callback=on_event)
    last = result.last
    line = {
        "name": args.name,
        "overrides": {k: v for k, v in overrides.items()},
        "preset": args.preset,
        "objective": config.objective,
        "acc": curve[-1],
        "acc_curve": curve,
        "elbo": last["elbo"],
        "iq": last["iq_exact"],
        "kl": last["kl"],
        "wall": time.perf_counter() - t0,
    }
    with args.log.open("a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
