"""Reproduce VMI-VAE (Serdega & Kim): identically initialised ELBO/MI pairs, evaluated with `vmieval report`.

For each dataset (MNIST: the train split of --mnist-dir, 60k since this round; Fashion-MNIST: full), setting
(`joint`: z16 + c10, MI on c; `gauss32`: z32, MI on z[0:2]) and seed, this script
1. trains the pair with `vmieval train-reference --pair` (a subprocess, as a user would), skipping a
   finished pair and continuing a partial one with `--resume`;
2. reports on both models with `vmieval report --compare --json` on the TEST split (MI estimates,
   Hungarian accuracy, NMI, KL, ELBO) and on the TRAIN split with `--no-mi` (the paper's protocol:
   each category takes its majority label on the training images);
3. writes `results.json` (every run's numbers plus mean ± std over seeds) and `results.md`.
Why a subprocess per step: the benchmark measures the product as shipped (CLI, checkpoints, JSON),
and a killed run loses at most one epoch, which `--resume` continues bit for bit.

    .venv/bin/python benchmarks/reproduce.py                       # full run (see benchmarks/README.md)
    .venv/bin/python benchmarks/reproduce.py --quick               # smoke path, < 1 minute, temp dir
    .venv/bin/python benchmarks/reproduce.py --datasets mnist --settings joint --seeds 1 --epochs mnist=5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results_table import summarise, write_results

from vmieval.checkpoints import read_payload
from vmieval.checkpoints.native import parse_metadata
from vmieval.outputs import atomic_write

ROOT = Path(__file__).resolve().parent
# The development machines keep MNIST in ../shared/data/mnist beside the repository.
MNIST_DIR = Path(os.environ.get("VMIEVAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# dataset key -> (preset prefix, default epochs). MNIST ran 50 epochs while only its first 10k images were
# available; on the complete 60k, 10 epochs is about the same number of steps (as for Fashion's 60k).
DATASETS = {"mnist": ("mnist", 10), "fashion": ("fashion", 10), "sample": ("sample", 1)}
SETTINGS = {"joint": "c", "gauss32": "z[0:2]"}
VMIEVAL = [sys.executable, "-m", "vmieval.cli.main"]


@dataclass(frozen=True)
class Job:
    """One ELBO/MI pair: `preset` = `<prefix>-<setting>`, trained into `folder`."""

    dataset: str
    setting: str
    seed: int
    epochs: int
    folder: Path
    data_dir: Path | None
    limit: int | None = None
    eval_images: int | None = None  # report on the first N images of the split (quick runs)
    q_pairs: int | None = None  # generated pairs for the Q bound (quick runs)
    q_folds: int | None = None  # cross-fitting folds of the Q bound (quick runs; default: report's)
    extra: tuple[str, ...] = ()

    @property
    def preset(self) -> str:
        return f"{DATASETS[self.dataset][0]}-{self.setting}"

    @property
    def checkpoints(self) -> tuple[Path, Path]:
        return self.folder / f"{self.preset}-elbo.pt", self.folder / f"{self.preset}-mi.pt"


def training_record(path: Path) -> dict[str, Any]:
    """The training record of a native checkpoint ({} when absent); reads metadata only."""
    if not path.exists():
        return {}
    return parse_metadata(read_payload(path), str(path)).get("training") or {}


def epochs_done(path: Path) -> int:
    return int(training_record(path).get("epochs_done", 0))


def train_seconds(path: Path) -> float:
    """Seconds the trainer spent on all recorded epochs (summed over resumes), from the history."""
    return float(sum(r.get("seconds", 0.0) for r in training_record(path).get("history", [])))


def run_logged(cmd: list[str], log: Path) -> str:
    """Run one CLI step, appending its stderr to `log`; return stdout. A failure stops the script."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as err:
        err.write(f"$ {' '.join(cmd)}\n")
        err.flush()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"step failed (exit {proc.returncode}), see {log}: {' '.join(cmd)}")
    return proc.stdout


def train_args(job: Job, paths: tuple[Path, ...], objective: str | None) -> list[str]:
    cmd = [*VMIEVAL, "train-reference", "--preset", job.preset, "--epochs", str(job.epochs), "--seed", str(job.seed)]
    cmd += ["--pair"] if objective is None else ["--objective", objective]
    cmd += ["--out", str(job.folder), *job.extra]
    if job.data_dir is not None:
        cmd += ["--data-dir", str(job.data_dir)]
    if job.limit is not None:
        cmd += ["--limit", str(job.limit)]
    if any(p.exists() for p in paths):
        cmd.append("--resume")
    return cmd


def train_job(job: Job, log: Path) -> float:
    """Train (or finish) the pair; returns the wall seconds spent here (0 when already done)."""
    if all(epochs_done(p) >= job.epochs for p in job.checkpoints):
        return 0.0
    t0 = time.perf_counter()
    run_logged(train_args(job, job.checkpoints, None), log)
    return time.perf_counter() - t0


def report_job(job: Job, split: str, with_mi: bool, log: Path, models: tuple[Path, ...] | None = None) -> dict:
    """`vmieval report --json` on the job's checkpoints, cached in `<folder>/report-<split>.json`.

    The cache is reused only when it is newer than every checkpoint (a resumed run invalidates it).
    No `--out`: the benchmark reads the JSON document only, so the report's figures and HDF5 (most of
    a small report's time) are not drawn; `vmieval report` on a checkpoint gives them.
    """
    models = models or job.checkpoints
    stem = "-".join(["report", split] + ([models[0].stem] if len(models) == 1 else []))
    cache = job.folder / f"{stem}.json"
    if cache.exists() and all(cache.stat().st_mtime > m.stat().st_mtime for m in models):
        return json.loads(cache.read_text())
    cmd = [*VMIEVAL, "report", *(["--compare"] if len(models) > 1 else []), *map(str, models), "--json"]
    cmd += ["--split", split, "--target", SETTINGS[job.setting.removesuffix("-paper")]]  # the setting's MI target
    if job.data_dir is not None:
        cmd += ["--data-dir", str(job.data_dir)]
    if job.eval_images is not None:
        cmd += ["--limit", str(job.eval_images)]
    if not with_mi:
        cmd.append("--no-mi")
    else:
        cmd += [] if job.q_pairs is None else ["--samples", str(job.q_pairs)]
        cmd += [] if job.q_folds is None else ["--folds", str(job.q_folds)]
    doc = json.loads(run_logged(cmd, log))
    atomic_write(cache, lambda tmp: Path(tmp).write_text(json.dumps(doc)), force=True)
    return doc


def _mi_row(mi: dict, target: str, side: str, kinds: tuple[str, ...], valid: bool) -> float | None:
    """The first MI row for `target` on `side` of one of `kinds` (and validity), chosen by the rows'
    structured fields (quantity, family), never by their labels; None if absent."""
    quantity = "I(t;x_hat)" if side == "decoder" else "I_q(x;t)"
    for i in range(len(mi.get("key", []))):
        if (
            mi["quantity"][i] == quantity
            and mi["target"][i] == target
            and mi["side"][i] == side
            and mi["kind"][i] in kinds
            and bool(mi["valid"][i]) == valid
            and mi["family"][i] in ("barber-agakov", "exact", "monte-carlo")
        ):
            return mi["value"][i]
    return None


def model_metrics(test: dict, train: dict | None, target: str) -> dict[str, float | None]:
    """The benchmark's numbers for one model from its test-split and train-split report groups."""
    kl = dict(zip(test["kl"]["block"], test["kl"]["value"], strict=True))
    if target == "c":
        kl_target = kl.get("c")
    else:
        kl_target = float(sum(test["kl"]["per_dim"]["z"][:2]))
    mi = test["mi"]
    return {
        "acc_hungarian_test": test["cluster"].get("accuracy_hungarian"),
        "acc_majority_test": test["cluster"].get("accuracy_majority"),
        "acc_majority_train": None if train is None else train["cluster"].get("accuracy_majority"),
        "nmi_test": test["cluster"].get("nmi"),
        "kl_target": kl_target,
        "kl_total": float(sum(v for v in kl.values() if v is not None)),
        "iq_encoder": _mi_row(mi, target, "encoder", ("exact", "estimate"), True),
        "q_bound_valid": _mi_row(mi, target, "decoder", ("lower_bound",), True),
        "q_bound_paper": _mi_row(mi, target, "decoder", ("lower_bound",), False),
        "elbo_test": test["elbo"].get("elbo"),
    }


def run_jobs(jobs: list[Job], log: Path) -> list[dict[str, Any]]:
    """Train and report every job in order; one record per model (objective elbo / mi)."""
    records = []
    for n, job in enumerate(jobs, 1):
        print(f"[{n}/{len(jobs)}] {job.preset} seed {job.seed}, {job.epochs} epochs -> {job.folder}", flush=True)
        seconds = train_job(job, log)
        test = report_job(job, "test", True, log)
        train = report_job(job, "train", False, log)
        for objective, path in zip(("elbo", "mi"), job.checkpoints, strict=True):
            name = path.stem
            records.append(
                {
                    "dataset": job.dataset,
                    "setting": job.setting,
                    "objective": objective,
                    "seed": job.seed,
                    "epochs": epochs_done(path),  # what the checkpoint holds, which may exceed the request
                    "checkpoint": str(path),
                    "train_seconds_this_invocation": seconds,
                    "train_seconds_recorded": train_seconds(path),
                    "n_train": training_record(path).get("n_train"),
                    "cluster_method": test[name]["cluster"]["attrs"].get("method"),
                    **model_metrics(test[name], train[name], SETTINGS[job.setting]),
                }
            )
    return records


def kept_records(path: Path, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of an existing results.json for the (dataset, setting) pairs this invocation does not
    run (e.g. the paper presets' from reproduce_paper.py): a pair it runs is replaced whole, so one
    table never mixes seeds trained on different data or budgets."""
    if not path.exists():
        return []
    redone = {(r["dataset"], r["setting"]) for r in new}
    old = json.loads(path.read_text()).get("runs", [])
    return [r for r in old if (r.get("dataset"), r.get("setting")) not in redone]


def parse_epochs(values: list[str]) -> dict[str, int]:
    out = {k: e for k, (_, e) in DATASETS.items()}
    for item in values:
        key, _, n = item.partition("=")
        if key not in DATASETS or not n.isdigit():
            raise SystemExit(f"--epochs takes DATASET=N with DATASET in {', '.join(DATASETS)}, got {item!r}")
        out[key] = int(n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion"], choices=list(DATASETS))
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    parser.add_argument("--epochs", nargs="*", default=[], metavar="DATASET=N", help="e.g. mnist=10 fashion=10")
    parser.add_argument("--mnist-dir", type=Path, default=MNIST_DIR)
    parser.add_argument("--fashion-dir", type=Path, default=FASHION_DIR)
    parser.add_argument("--runs-dir", type=Path, default=None, help="default: benchmarks/runs (--quick: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results (--quick: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="smoke path: mnist-sample, 1 seed, 1 epoch, tiny")
    args = parser.parse_args()

    epochs = parse_epochs(args.epochs)
    if args.quick:
        tmp = Path(tempfile.mkdtemp(prefix="vmieval-reproduce-"))
        runs, out = args.runs_dir or tmp / "runs", args.out or tmp / "results"
        jobs = [
            Job(
                "sample",
                s,
                0,
                epochs["sample"],
                runs / f"sample-{s}" / "seed0",
                None,
                limit=200,
                eval_images=300,
                q_pairs=200,
                q_folds=2,
            )  # fmt: skip
            for s in args.settings
        ]
    else:
        runs, out = args.runs_dir or ROOT / "runs", args.out or ROOT / "results"
        dirs = {"mnist": args.mnist_dir, "fashion": args.fashion_dir, "sample": None}
        jobs = [
            Job(d, s, seed, epochs[d], runs / f"{d}-{s}" / f"seed{seed}", dirs[d])
            for d in args.datasets
            for s in args.settings
            for seed in range(args.seeds)
        ]
    t0 = time.perf_counter()
    records = run_jobs(jobs, runs / "reproduce.log")
    meta = {
        "command": " ".join(["benchmarks/reproduce.py", *sys.argv[1:]]),
        "wall_seconds_this_invocation": round(time.perf_counter() - t0, 1),
        "quick": args.quick,
        "epochs": {j.dataset: j.epochs for j in jobs},
        "seeds": sorted({j.seed for j in jobs}),
    }
    previous = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    if "paper_presets" in previous.get("meta", {}):  # written by reproduce_paper.py collect
        meta["paper_presets"] = previous["meta"]["paper_presets"]
    records = kept_records(out / "results.json", records) + records
    json_path, md_path = write_results(out, records, summarise(records), meta)
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
