"""Lambda sweep (paper Fig 3): where the paper's MI objective collapses and where the valid one does not.

For the `joint` setting (MI on c) and the `gauss32` setting (MI on z[0:2]) on MNIST, one seed, a
few epochs: MI models at each lambda with the paper's entropy (`prior`: H = log K) and with the
aggregate-posterior entropy (`aggregate`), plus the ELBO model (lambda = 0) as the reference. Each
model is trained with `vmieval train-reference`; then each setting's checkpoints are evaluated by one
`vmieval sweep` (test split, the report's own defaults, a content-addressed cache: a rerun recomputes
nothing) and the table is read from its `sweep.h5`: the encoder's real information (exact I_q(x; c); for
z[0:2] the Monte-Carlo estimate), its KL bound, the valid Q bound and the paper's bound, each ± its
stderr. A collapsed encoder shows as I_q ~ 0 while the paper's bound reads ~log K. The sweep also draws
the figure (the valid bound against lambda, one line per entropy mode): `results/sweep-<setting>.png`.

For gauss32 the training objective is the same in both entropy modes (a Gaussian slice always uses
the N(0, I) entropy; no closed form for the aggregate of Gaussians), so only `prior` is trained.

    .venv/bin/python benchmarks/sweep.py [--lams 0.5 1 2 5 10 20] [--epochs 15] [--settings joint gauss32]
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from reproduce import MNIST_DIR, ROOT, SETTINGS, VMIEVAL, Job, epochs_done, run_logged, train_args

from vmieval.outputs import atomic_write
from vmieval.sweep.table import SweepTable, read_table

# column -> (header, sweep.csv column for target t, format); `{t}` is the setting's MI target
COLUMNS: dict[str, tuple[str, str, str]] = {
    "iq_encoder": ("encoder I_q(x; t)", "mi:I_q(x;t)|{t}|{encoder}", "{:.3f}"),
    "kl_target": ("KL(t)", "mi:I_q(x;t)|{t}|upper_bound|kl|-", "{:.3f}"),
    "q_bound_valid": ("Q bound, valid H", "mi:I(t;x_hat)|{t}|lower_bound|barber-agakov|{entropy}", "{:.3f}"),
    "q_bound_paper": ("Q bound, paper H", "mi:I(t;x_hat)|{t}|lower_bound|barber-agakov|paper", "{:.3f}"),
    "acc_hungarian_test": ("acc (Hungarian)", "cluster:accuracy_hungarian", "{:.3f}"),
    "elbo_test": ("ELBO", "elbo", "{:.1f}"),
}


def sweep_jobs(args: argparse.Namespace, runs: Path, data_dir: Path | None) -> list[tuple[Job, str]]:
    """(job, objective) per model; the job's folder (`<setting>/lam<L>-<entropy>`) holds that model alone,
    so `vmieval sweep` reads lambda and entropy from the training record and the setting from the path."""
    dataset = "sample" if args.quick else "mnist"
    jobs = []
    kw: dict[str, Any] = {"limit": 300} if args.quick else {"limit": args.train_limit}
    for setting in args.settings:
        base = runs / f"{dataset}-{setting}"
        jobs.append((Job(dataset, setting, args.seed, args.epochs, base / "elbo", data_dir, **kw), "elbo"))
        for entropy in ("prior", "aggregate") if setting == "joint" else ("prior",):
            for lam in args.lams:
                extra = ("--lam", str(lam), "--entropy", entropy)
                job = Job(dataset, setting, args.seed, args.epochs, base / f"lam{lam:g}-{entropy}", data_dir, **kw,
                          extra=extra)  # fmt: skip
                jobs.append((job, "mi"))
    return jobs


def train_all(jobs: list[tuple[Job, str]], log: Path) -> dict[str, float]:
    """Train (or finish) every model; the seconds spent here per checkpoint."""
    seconds = {}
    for n, (job, objective) in enumerate(jobs, 1):
        path = job.checkpoints[0 if objective == "elbo" else 1]
        print(f"[{n}/{len(jobs)}] train {path.relative_to(job.folder.parent.parent)}", flush=True)
        t0 = time.perf_counter()
        if epochs_done(path) < job.epochs:
            run_logged(train_args(job, (path,), objective), log)
        seconds[str(path)] = time.perf_counter() - t0
    return seconds


def sweep_setting(paths: list[Path], folder: Path, args: argparse.Namespace, data_dir: Path | None, log: Path) -> Path:
    """`vmieval sweep` on one setting's checkpoints (resumable: its cache skips what is done)."""
    cmd = [*VMIEVAL, "sweep", *map(str, paths), "--out", str(folder), "--split", "test", "--quiet"]
    cmd += ["--x", "lam", "--series", "entropy", "--workers", str(args.workers)]
    cmd += ["--limit", "500", "--samples", "300"] if args.quick else []
    cmd += args.report_options.split()
    cmd += [] if data_dir is None else ["--data-dir", str(data_dir)]
    run_logged(cmd, log)
    return folder / "sweep.h5"


def _number(row: dict[str, Any], column: str) -> tuple[float | None, float | None]:
    value, stderr = row.get(column), row.get(column + ":stderr")
    ok = isinstance(value, float) and not math.isnan(value)
    return (value if ok else None), (stderr if ok and isinstance(stderr, float) and not math.isnan(stderr) else None)


def records_of(table: SweepTable, setting: str) -> list[dict[str, Any]]:
    """The benchmark's records from one setting's sweep table (columns chosen by their structured keys)."""
    target = SETTINGS[setting]
    encoder = "exact|exact|-" if target == "c" else "estimate|monte-carlo|-"
    valid = "aggregate" if target == "c" else "aggregate-mc"  # the valid H(t): exact for c, Monte-Carlo for z
    records = []
    for row in table.rows:
        record = {"setting": setting, "model": row["model"], "status": row["status"], "error": row["error"]}
        record |= {k: row.get(k) for k in ("objective", "lam", "entropy", "seed", "epochs_done", "checkpoint")}
        record["lam"] = 0.0 if record["objective"] == "elbo" else record["lam"]
        record["entropy"] = "-" if record["objective"] == "elbo" else record["entropy"]
        for key, (_, column, _) in COLUMNS.items():
            value, stderr = _number(row, column.format(t=target, encoder=encoder, entropy=valid))
            record[key], record[key + "_stderr"] = value, stderr
        records.append(record)
    return sorted(records, key=lambda r: (r["objective"] != "elbo", r["entropy"] != "prior", r["lam"]))


def markdown(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Lambda sweep (paper Fig 3)",
        "",
        f"Generated by `{meta['command']}` through `vmieval sweep` (this table is read from each setting's "
        f"`sweep.h5`): {meta['dataset']}, seed {meta['seed']}, {meta['epochs']} epochs, report options: "
        f"{meta.get('report_options', 'the defaults')}, test split, nats, "
        "value ± one standard error. "
        "t is the MI target (c for joint, z[0:2] for gauss32); for joint the encoder I_q is exact, for "
        "gauss32 a Monte-Carlo estimate. `paper H` uses H = log K (or the N(0, I) entropy), not a valid "
        "bound when the aggregate posterior is far from the prior. acc: Hungarian accuracy of argmax q(c|x) "
        "(gauss32: of k-means on the posterior means, a baseline).",
        "",
    ]
    for setting in dict.fromkeys(r["setting"] for r in records):
        lines += [f"## {setting} (MI on {SETTINGS[setting]})", ""]
        lines.append("| objective | lambda | entropy | " + " | ".join(c[0] for c in COLUMNS.values()) + " |")
        lines.append("| --- " * (3 + len(COLUMNS)) + "|")
        for r in (r for r in records if r["setting"] == setting):
            cells = [_shown(r, k, fmt) for k, (_, _, fmt) in COLUMNS.items()]
            lines.append(f"| {r['objective']} | {r['lam']:g} | {r['entropy']} | " + " | ".join(cells) + " |")
        lines += ["", f"![{setting}: valid Q bound against lambda](sweep-{setting}.png)", ""]
    return "\n".join(lines)


def _shown(record: dict[str, Any], key: str, fmt: str) -> str:
    if record.get(key) is None:
        return "–" if record["status"] == "done" else record["status"]
    stderr = record.get(key + "_stderr")
    return fmt.format(record[key]) + ("" if stderr is None else " ± " + fmt.format(stderr))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--lams", nargs="+", type=float, default=[0.5, 1, 2, 5, 10, 20])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-limit", type=int, default=10_000, help="train on the first N images (10k: as before)")
    parser.add_argument("--workers", type=int, default=1, help="vmieval sweep --workers")
    parser.add_argument("--report-options", default="", help="more `vmieval sweep` options, e.g. '--folds 2'")
    parser.add_argument("--mnist-dir", type=Path, default=MNIST_DIR)
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "sweep")
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results (--quick: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="smoke path: mnist-sample, tiny")
    args = parser.parse_args()
    if args.quick:
        tmp = Path(tempfile.mkdtemp(prefix="vmieval-sweep-"))
        runs, out, data_dir = tmp / "runs", args.out or tmp, None
        args.epochs, args.lams = min(args.epochs, 2), args.lams[:2]
    else:
        runs, out, data_dir = args.runs_dir, args.out or ROOT / "results", args.mnist_dir
    t0 = time.perf_counter()
    jobs = sweep_jobs(args, runs, data_dir)
    log = runs / "sweep.log"
    seconds = train_all(jobs, log)
    records = []
    out.mkdir(parents=True, exist_ok=True)
    for setting in args.settings:
        mine = [j for j in jobs if j[0].setting == setting]
        paths = [job.checkpoints[0 if objective == "elbo" else 1] for job, objective in mine]
        folder = runs / f"sweep-{setting}"
        print(f"vmieval sweep: {setting}, {len(paths)} models -> {folder}", flush=True)
        table = read_table(sweep_setting(paths, folder, args, data_dir if not args.quick else None, log))
        for record in records_of(table, setting):
            record["train_seconds_this_invocation"] = round(seconds.get(record["checkpoint"], 0.0), 1)
            records.append(record)
        figure = folder / "metric-vs-lam.png"
        if figure.exists():
            shutil.copyfile(figure, out / f"sweep-{setting}.png")
    meta = {
        "command": shlex.join(["benchmarks/sweep.py", *sys.argv[1:]]),
        "dataset": "mnist-sample" if args.quick else f"MNIST (first {args.train_limit // 1000}k train images)",
        "seed": args.seed,
        "epochs": args.epochs,
        "report_options": args.report_options or "the defaults",
        "wall_seconds_this_invocation": round(time.perf_counter() - t0, 1),
    }
    doc = json.dumps({"meta": meta, "runs": records}, indent=1) + "\n"
    atomic_write(out / "sweep.json", lambda tmp: Path(tmp).write_text(doc), force=True)
    atomic_write(out / "sweep.md", lambda tmp: Path(tmp).write_text(markdown(records, meta)), force=True)
    print(f"wrote {out / 'sweep.json'} and {out / 'sweep.md'}")


if __name__ == "__main__":
    main()
