"""Continue the MI models of `consistency_seeds.py` (5 epochs) to more epochs, and score them beside the
plain `mnist-joint` ELBO models of `reproduce.py` at the same epochs.

Why those ELBO models: the ELBO side of `mnist-joint-consistency` has consistency 0 and lambda 0, so its
configuration differs from `mnist-joint`'s ELBO model only in the preset's name, and it trains the same
weights (their recorded histories agree to the last digit over the 5 epochs both ran). The MI model is
copied out of the pair's folder (with its resume sidecar), so the 5-epoch pair stays as it was.

    .venv/bin/python benchmarks/consistency_continue.py --seed 0 --epochs 10
    .venv/bin/python benchmarks/consistency_continue.py --collect --seeds 0 1 2 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from consistency_seeds import SETTING, score
from results_table import summarise
from tune_consistency import DATA, test_accuracy
from vmieval.trainers import TrainConfig, train
from vmieval.trainers.resume import sidecar_path

import vmieval
from vmieval.data import load_images
from vmieval.outputs import atomic_write

ROOT = Path(__file__).resolve().parent
PAIRS = ROOT / "runs" / "consistency" / "mnist-joint-consistency"
PLAIN = ROOT / "runs" / "full60k" / "mnist-joint"


def continued(seed: int, epochs: int) -> Path:
    return ROOT / "runs" / "consistency" / f"continued-{epochs}" / f"seed{seed}" / "mnist-joint-consistency-mi.pt"


def continue_run(seed: int, epochs: int) -> None:
    path = continued(seed, epochs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        source = PAIRS / f"seed{seed}" / path.name
        shutil.copy(source, path)
        shutil.copy(sidecar_path(source), sidecar_path(path))
    config = TrainConfig.from_dict(vmieval.load(path).training_record["config"]).replace(epochs=epochs)
    test = load_images("mnist", "test", str(DATA["mnist"]))

    def on_event(event: object) -> None:
        if getattr(event, "kind", "") == "epoch":
            r = event.record  # type: ignore[attr-defined]
            print(f"seed {seed} epoch {r['epoch']}: acc {test_accuracy(path, test.images, test.labels.numpy()):.4f} "
                  f"elbo {r['elbo']:.2f}", flush=True)  # fmt: skip

    train(config, path, resume=True, callback=on_event)


def collect(seeds: list[int], epochs: int, out: Path) -> None:
    test = load_images("mnist", "test", str(DATA["mnist"]))
    train_split = load_images("mnist", "train", str(DATA["mnist"]))
    rows = []
    for seed in seeds:
        for objective, path in (
            ("elbo", PLAIN / f"seed{seed}" / "mnist-joint-elbo.pt"),
            ("mi", continued(seed, epochs)),
        ):
            record = vmieval.load(path).training_record
            row = {"dataset": "mnist", "setting": SETTING, "objective": objective, "seed": seed,
                   "epochs": record["epochs_done"], "n_train": record["n_train"], "checkpoint": str(path),
                   "train_seconds_recorded": sum(r["seconds"] for r in record["history"]),
                   **score(path, test, train_split, seed)}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
    payload = {"meta": {"setting": SETTING, "script": "benchmarks/consistency_continue.py"}, "summary": summarise(rows),
               "runs": rows}  # fmt: skip
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1)), force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--collect", action="store_true", help="score the continued models, write --out")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "consistency_10ep.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.collect:
        collect(args.seeds, args.epochs, args.out)
    else:
        continue_run(args.seed, args.epochs)


if __name__ == "__main__":
    main()
