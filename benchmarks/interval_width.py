"""Does a real model's Q-bound interval match its rerun spread? (issue 14: JointVAE's MNIST bound)

Reruns the decoder-side bound on one checkpoint with different seeds (fresh pairs, fresh Q fits) and
sets the SD of the values across reruns beside the stderr each run reported, for the cross-fitted
bound (`crossfit_q_bound`, the default) and, unless `--no-single`, the single split (`q_bound`,
per-pair stderr). An honest stderr has a ratio near 1. The cross-fit's 95% interval is
value ± t(df)·stderr, reported as ± 1.96·(reported stderr), so its reported stderr is t(df)/1.96
times its raw one; each run's variance parts (pairs given the images, Q's fitting, and for
comparison the per-image U and the between-fold spread) are kept. An SD from n reruns is itself
uncertain: `sd_ci95` is its chi-square 95% interval.

Each finished (procedure, seed) is one JSON line in `--cache` (resumable; `--only 1,3` runs just
those seeds, so two processes can share the work, and writes no summary; `--summary-only` summarises
the cached seeds without running any).

    nice -n 10 .venv/bin/python benchmarks/interval_width.py CHECKPOINT [--seeds 8] [--data-dir DIR] [--no-single]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from scipy.stats import chi2

from vmieval.checkpoints import load_checkpoint
from vmieval.data import fit_to_spec, load_images
from vmieval.encoded import EncodedSplit, encode_split
from vmieval.estimators import MIConfig, default_target, q_bound
from vmieval.estimators.decoder.crossfit import DEFAULT_FOLDS, crossfit_q_bound
from vmieval.frozen import FrozenVAE
from vmieval.outputs import atomic_write
from vmieval.spec import Target, parse_target

RESULTS = Path(__file__).resolve().parent / "results"


def run_seed(model: FrozenVAE, target: Target, split: EncodedSplit, procedure: str, seed: int) -> dict[str, Any]:
    """One rerun's valid Barber-Agakov row: value, reported stderr and, cross-fitted, its interval's parts."""
    config, g, t0 = MIConfig(), torch.Generator().manual_seed(seed), time.perf_counter()
    if procedure == "single split":
        ba = next(e for e in q_bound(model, target, config, g, split).estimates() if e.valid)
        return {"value": ba.value, "reported_stderr": ba.stderr, "raw_stderr": ba.stderr, "df": None,
                "seconds": time.perf_counter() - t0}  # fmt: skip
    cross = crossfit_q_bound(model, target, config, g, split)
    ba = next(e for e in cross.estimates() if e.valid)
    i = cross.intervals[ba.key]
    rows = {e.key: {"value": e.value, "reported_stderr": e.stderr, "raw_stderr": cross.intervals[e.key].stderr}
            for e in cross.estimates() if e.valid}  # fmt: skip
    return {"value": ba.value, "reported_stderr": ba.stderr, "raw_stderr": i.stderr,
            "df": i.df if math.isfinite(i.df) else None, "variance_pairs": i.pairs, "variance_q_fit": i.q_fit,
            "variance_images": i.images, "variance_folds": i.folds, "seconds": time.perf_counter() - t0,
            "rows": rows, "policy": {k: ba.params[k] for k in ("precision", "front", "optimiser")}}  # fmt: skip


def row_summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per valid cross-fitted row (Barber-Agakov, Fano, InfoNCE, NWJ, interpolated): SD over reruns
    beside the mean reported and raw stderr, as ratios (an honest stderr reads near 1)."""
    out: dict[str, dict[str, float]] = {}
    for key in runs[0].get("rows", {}):
        values = [r["rows"][key]["value"] for r in runs]
        sd = statistics.stdev(values)
        reported = statistics.fmean(r["rows"][key]["reported_stderr"] for r in runs)
        raw = statistics.fmean(r["rows"][key]["raw_stderr"] for r in runs)
        out[key] = {"mean": statistics.fmean(values), "sd_over_reruns": sd, "mean_reported_stderr": reported,
                    "reported_stderr_over_sd": reported / sd, "raw_stderr_over_sd": raw / sd}  # fmt: skip
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """SD over reruns (with its chi-square 95% interval) beside the stderrs the runs reported."""
    values = [r["value"] for r in runs]
    n, sd = len(values), statistics.stdev(values)
    reported, raw = [r["reported_stderr"] for r in runs], [r["raw_stderr"] for r in runs]
    out: dict[str, Any] = {
        "seeds": [r["seed"] for r in runs],
        "values": values,
        "reported_stderr": reported,
        "raw_stderr": raw,
        "sd_over_reruns": sd,
        "sd_ci95": [sd * math.sqrt((n - 1) / chi2.ppf(0.975, n - 1)), sd * math.sqrt((n - 1) / chi2.ppf(0.025, n - 1))],
        "mean_reported_stderr_over_sd": statistics.fmean(reported) / sd,
        "median_reported_stderr_over_sd": statistics.median(reported) / sd,
        "mean_raw_stderr_over_sd": statistics.fmean(raw) / sd,
    }
    if "rows" in runs[0]:
        out["rows"] = row_summary(runs)
    if "variance_pairs" in runs[0]:
        out["df"] = [r["df"] for r in runs]
        for part in ("pairs", "q_fit", "images", "folds"):  # as a stderr of the mean: √(mean variance)
            out[f"stderr_{part}"] = math.sqrt(statistics.fmean(r[f"variance_{part}"] for r in runs))
    return out


def timings(done: dict[tuple[str, int], dict[str, Any]], procedure: str, seeds: list[int]) -> list[float]:
    """Seconds of each cached run of `procedure` that recorded them."""
    return [e["seconds"] for s in seeds if (e := done.get((procedure, s))) and e.get("seconds") is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--only", default=None, help="comma-separated seeds to run (fills the cache only)")
    parser.add_argument("--no-single", action="store_true", help="rerun the cross-fitted bound only")
    parser.add_argument("--summary-only", action="store_true", help="summarise the cached seeds, run none")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "interval_width.json")
    parser.add_argument("--cache", type=Path, default=None, help="default: OUT with .seeds.jsonl")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cache = args.cache or args.out.with_suffix(".seeds.jsonl")
    procedures = ["cross-fit"] + ([] if args.no_single else ["single split"])
    seeds = [int(s) for s in args.only.split(",")] if args.only else list(range(args.seeds))
    done: dict[tuple[str, int], dict[str, Any]] = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            entry = json.loads(line)
            done[(entry["procedure"], entry["seed"])] = entry
    model = load_checkpoint(args.checkpoint)
    data = fit_to_spec(load_images(args.dataset, "test", data_dir=args.data_dir), model.spec)
    target = parse_target(default_target(model.spec), model.spec)
    split = encode_split(model, data)
    if args.summary_only:
        seeds = [s for s in seeds if any((p, s) in done for p in procedures)]
    for seed in seeds:
        for procedure in procedures:
            if (procedure, seed) not in done:
                entry = {"procedure": procedure, "seed": seed, **run_seed(model, target, split, procedure, seed)}
                cache.parent.mkdir(parents=True, exist_ok=True)
                with cache.open("a") as fh:  # one line per run: processes on disjoint seeds may share it
                    fh.write(json.dumps(entry) + "\n")
                done[(procedure, seed)] = entry
                print(json.dumps(entry), file=sys.stderr, flush=True)
    if args.only:
        return
    summary = {}
    for procedure in ("cross-fit", "single split"):  # a procedure not rerun now: its cached seeds
        runs = [done[(procedure, s)] for s in seeds if (procedure, s) in done]
        if len(runs) > 1:
            summary[procedure] = summarise(runs)
    doc = {
        "checkpoint": str(args.checkpoint),
        "target": target.label(),
        "n_images": int(data.images.shape[0]),
        "config": MIConfig().to_dict(),
        "folds": DEFAULT_FOLDS,
        "seconds_per_seed": {p: statistics.fmean(t) for p in summary if (t := timings(done, p, seeds))},
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
    for key, row in summary.get("cross-fit", {}).get("rows", {}).items():
        print(f"{key}: stderr/SD reported {row['reported_stderr_over_sd']:.2f}, raw {row['raw_stderr_over_sd']:.2f}")


if __name__ == "__main__":
    main()
