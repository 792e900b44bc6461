"""Does a real model's Q-bound interval match its rerun spread? (issue 14: JointVAE's MNIST bound)

Reruns the decoder-side bound on one checkpoint with different seeds (fresh pairs, fresh Q fits) and
sets the SD of the values across reruns beside the mean stderr each run reported, for the
single-split bound (`q_bound`, per-pair stderr) and the cross-fitted one (`crossfit_q_bound`). An
honest stderr has a ratio near 1; the cross-fit's 95% interval is value ± t(F−1)·stderr, reported
as ± 1.96·(reported stderr), so its reported stderr is t(F−1)/1.96 times its raw one.

    nice -n 10 .venv/bin/python benchmarks/interval_width.py CHECKPOINT [--seeds 8] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from vmieval.atomic import atomic_write
from vmieval.checkpoints import load_checkpoint
from vmieval.data import fit_to_spec, load_images
from vmieval.encoded import encode_split
from vmieval.estimators import MIConfig, default_target, q_bound
from vmieval.estimators.crossfit import DEFAULT_FOLDS, crossfit_q_bound
from vmieval.spec import parse_target

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "interval_width.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.checkpoint)
    data = fit_to_spec(load_images(args.dataset, "test", data_dir=args.data_dir), model.spec)
    config = MIConfig()
    target = parse_target(default_target(model.spec), model.spec)
    split = encode_split(model, data)
    runs: dict[str, list[tuple[float, float, float]]] = {"single split": [], "cross-fit": []}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        single = q_bound(model, target, config, torch.Generator().manual_seed(seed), split)
        ba = next(e for e in single.estimates() if e.valid)
        runs["single split"].append((ba.value, ba.stderr, ba.stderr))
        cross = crossfit_q_bound(model, target, config, torch.Generator().manual_seed(seed), split)
        ba = next(e for e in cross.estimates() if e.valid)
        runs["cross-fit"].append((ba.value, ba.stderr, cross.intervals[ba.key].stderr))
        print(f"seed {seed}: single {runs['single split'][-1]}, cross-fit {runs['cross-fit'][-1]}", file=sys.stderr)
    summary = {}
    for name, rows in runs.items():
        values = [r[0] for r in rows]
        sd = statistics.stdev(values)
        summary[name] = {
            "values": values,
            "reported_stderr": [r[1] for r in rows],
            "raw_stderr": [r[2] for r in rows],
            "sd_over_reruns": sd,
            "mean_reported_stderr_over_sd": statistics.fmean(r[1] for r in rows) / sd,
            "mean_raw_stderr_over_sd": statistics.fmean(r[2] for r in rows) / sd,
        }
    doc = {
        "checkpoint": str(args.checkpoint),
        "target": target.label(),
        "n_images": int(data.images.shape[0]),
        "config": config.to_dict(),
        "folds": DEFAULT_FOLDS,
        "seeds": args.seeds,
        "seconds": time.perf_counter() - t0,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },  # fmt: skip
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda p: p.write_text(json.dumps(doc, indent=1)))
    print(
        json.dumps({k: {m: v for m, v in s.items() if not isinstance(v, list)} for k, s in summary.items()}, indent=1)
    )


if __name__ == "__main__":
    main()
