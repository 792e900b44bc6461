"""The consistency presets over seeds: identically initialised ELBO/MI pairs, scored in-process.

For each dataset and seed, trains the pair of `<dataset>-joint-consistency` with `train_pair` (a
finished pair is kept, a partial one continued with resume), then scores both models on the whole
test split (Hungarian and majority accuracy of argmax q(c|x), NMI, E KL(q(c|x) || p(c)), exact
I_q(x; c), held-out ELBO with one code sample per image) and on the whole train split (majority vote:
the paper's protocol). Rows use the field names of results.json's `runs` (setting `joint-consistency`;
the decoder-Q bounds are not computed here and stay absent), so `results_table.summarise` gives the
same `summary` layout, written with the rows to results/consistency.json.

    .venv/bin/python benchmarks/consistency_seeds.py --datasets mnist --seeds 0 1 2 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from results_table import summarise
from tune_consistency import DATA
from vmieval.trainers import get_preset, train_pair

import vmieval
from vmieval.analysis.cluster import cluster_analysis
from vmieval.analysis.elbo import elbo_analysis
from vmieval.data import load_images
from vmieval.encoded import encode_split
from vmieval.estimators.encoder import categorical_mi
from vmieval.outputs import atomic_write

ROOT = Path(__file__).resolve().parent
SETTING = "joint-consistency"


def score(path: Path, test: Any, train: Any, seed: int) -> dict[str, Any]:
    model = vmieval.load(path)
    encoded = encode_split(model, test)
    on_test = cluster_analysis(encoded)
    on_train = cluster_analysis(encode_split(model, train))
    elbo = elbo_analysis(model, encoded, torch.Generator().manual_seed(seed))
    return {
        "cluster_method": on_test.method,
        "acc_hungarian_test": on_test.accuracy_hungarian,
        "acc_majority_test": on_test.accuracy_majority,
        "acc_majority_train": on_train.accuracy_majority,
        "nmi_test": on_test.nmi,
        "kl_target": elbo.kl_block["c"],
        "kl_total": sum(elbo.kl_block.values()),
        "iq_encoder": categorical_mi(encoded.block("c").log_probs.double())[0],
        "elbo_test": elbo.elbo,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATA), default=["mnist"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="first N training images (smoke runs)")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "consistency")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "consistency.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    for dataset in args.datasets:
        preset = get_preset(f"{dataset}-{SETTING}")
        epochs = args.epochs or preset.epochs
        config = preset.replace(data_dir=str(DATA[dataset]), device="cpu", epochs=epochs, limit=args.limit)
        test = load_images(config.dataset, "test", config.data_dir)
        train = load_images(config.dataset, "train", config.data_dir)
        n_train = min(config.limit or len(train.images), len(train.images))
        for seed in args.seeds:
            folder = args.runs_dir / preset.preset / f"seed{seed}"
            folder.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            results = train_pair(config.replace(seed=seed), folder, resume=True)
            seconds = time.perf_counter() - t0
            for result in results:
                row = {"dataset": dataset, "setting": SETTING, "objective": result.config.objective, "seed": seed,
                       "epochs": len(result.history), "n_train": n_train, "checkpoint": str(result.path),
                       "train_seconds_recorded": sum(r["seconds"] for r in result.history),
                       "train_seconds_this_invocation": seconds, **score(result.path, test, train, seed)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    previous = json.loads(args.out.read_text())["runs"] if args.out.exists() else []  # read late: runs in parallel
    kept = [r for r in previous if (r["dataset"], r["seed"]) not in {(r2["dataset"], r2["seed"]) for r2 in rows}]
    runs = kept + rows
    payload = {"meta": {"setting": SETTING, "script": "benchmarks/consistency_seeds.py"}, "summary": summarise(runs),
               "runs": runs}  # fmt: skip
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1)), force=True)
    print(json.dumps(payload["summary"], indent=1))


if __name__ == "__main__":
    main()
