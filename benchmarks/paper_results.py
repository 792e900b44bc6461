"""The evaluation half of `reproduce_paper.py`: every paper-preset checkpoint reported, tabulated and plotted.

For each `<runs>/<preset>/seed<S>/` folder (preset `<dataset>-<setting>-paper`) this
1. reports on its models with `vmieval report --json` exactly as `reproduce.py` does (test split with
   MI estimates and Hungarian accuracy; train split with `--no-mi` for the majority vote fitted and
   scored on the training images), through `reproduce.report_job`, cached per checkpoint;
2. adds the paper's exact protocol, which `report` (a frozen model: batch norm on running statistics)
   does not follow: majority vote on the whole training split with batch norm in train mode, in
   shuffled batches of the preset's size (`acc_majority_train_paper`);
3. merges the records into `results.json` beside the other presets' (same `summary` layout; earlier
   paper records are replaced) and rewrites `results.md`;
4. draws the curves of every model's training history (accuracy and categorical KL against
   iterations: the paper's Figs 7/8) into `paper_curves.png` beside the table.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from reproduce import Job, model_metrics, report_job, training_record
from reproduce_paper import DATA_DIRS, machine
from results_table import summarise, write_results

from vmieval.analysis.cluster import majority_accuracy
from vmieval.architectures import build_architecture
from vmieval.checkpoints import read_payload
from vmieval.checkpoints.native import parse_metadata
from vmieval.data import ImageData, fit_to_spec, load_images
from vmieval.spec import ModelSpec

TARGETS = {"joint-paper": "c", "gauss32-paper": "z[0:2]"}
DATASET_NAMES = {"mnist": "mnist", "fashion": "fashion-mnist", "sample": "mnist-sample"}
FOLDER = re.compile(r"^(mnist|fashion|sample)-(joint|gauss32)-paper$")


def paper_protocol_accuracy(path: Path, load: Callable[[], ImageData]) -> float | None:
    """Majority-vote accuracy on the split `load()` returns, with batch norm in train mode (the paper's
    test_catvae.py): shuffled batches of the training batch size, the last partial batch dropped. None
    without a categorical block. (`load` gives a fresh copy: `fit_to_spec` may rescale in place.)"""
    from vmieval.trainers.paper_loop import category_argmax

    payload = read_payload(path)
    meta = parse_metadata(payload, str(path))
    spec = ModelSpec.from_dict(meta["spec"])
    blocks = spec.blocks_of_kind("categorical")
    if not blocks:
        return None
    module = build_architecture(meta["architecture"]["name"], meta["architecture"]["config"], spec)
    module.load_state_dict(payload["state_dict"], strict=True)
    config = meta["training"]["config"]
    batch = int(config["batch_size"])
    data = load()
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(int(config["seed"])))
    order = order[: len(data) // batch * batch]
    x = fit_to_spec(data, spec).images[order]
    assignments = category_argmax(module, spec, blocks[0].name, x, batch, batch_norm_train=True)
    return majority_accuracy(assignments, data.labels[order].numpy(), blocks[0].size)[0]


def history_columns(path: Path) -> dict[str, np.ndarray]:
    """iteration, the three accuracies and the held-out KL of c from a checkpoint's history [E]."""
    history = training_record(path).get("history") or []
    cols: dict[str, list[float]] = {"iteration": [], "paper": [], "majority": [], "hungarian": [], "kl_c": []}
    for r in history:
        cols["iteration"].append(r["iteration"])
        cols["paper"].append(np.nan if r.get("acc_majority_train_paper") is None else r["acc_majority_train_paper"])
        cols["majority"].append(np.nan if r.get("acc_majority_train") is None else r["acc_majority_train"])
        cols["hungarian"].append(np.nan if r.get("acc_hungarian_test") is None else r["acc_hungarian_test"])
        cols["kl_c"].append(r.get("kl", {}).get("c", np.nan))
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def curves_figure(histories: dict[str, dict[str, np.ndarray]], path: Path) -> Path:
    """Accuracy (paper protocol, eval-mode majority, Hungarian on test) and KL(c) against iterations."""
    from vmieval.figures.canvas import FONT_SIZE, model_colours, new_figure, save_figure

    fig = new_figure(1000, 420)
    acc_ax, kl_ax = fig.subplots(1, 2)
    colours = model_colours(list(histories))
    styles = {"paper": "-", "majority": ":", "hungarian": "--"}
    names = {
        "paper": "majority vote, train, BN train mode (paper)",
        "majority": "majority vote, train, BN eval",
        "hungarian": "Hungarian, test, BN eval",
    }
    for model, cols in histories.items():
        for key, style in styles.items():
            if np.isfinite(cols[key]).any():
                acc_ax.plot(
                    cols["iteration"], cols[key], color=colours[model], ls=style, label=f"{model}: {names[key]}"
                )
        kl_ax.plot(cols["iteration"], cols["kl_c"], color=colours[model], label=f"{model}: KL(q(c|x) ‖ U(10)), test")
    for ax, title, unit in (
        (acc_ax, "cluster accuracy of argmax q(c|x)", "accuracy"),
        (kl_ax, "categorical KL (Fig 7)", "nats"),
    ):
        ax.set_title(title, fontsize=FONT_SIZE + 1)
        ax.set_xlabel("iteration", fontsize=FONT_SIZE)
        ax.set_ylabel(unit, fontsize=FONT_SIZE)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE - 2, frameon=False)
    fig.suptitle("paper presets: training curves (paper: MNIST joint 0.21 / 0.74 accuracy, KL(c) 0.89 / 2.22)")
    return save_figure(fig, path, force=True)


def runs_in(runs: Path) -> list[tuple[str, str, int, Path]]:
    """(dataset, setting, seed, folder) for every `<preset>/seed<S>` folder holding a checkpoint."""
    out = []
    for folder in sorted(runs.glob("*-paper/seed*")):
        m = FOLDER.match(folder.parent.name)
        if m and any(folder.glob("*.pt")) and folder.name[4:].isdigit():
            out.append((m.group(1), f"{m.group(2)}-paper", int(folder.name[4:]), folder))
    return out


def collect(
    runs: Path, out: Path, command: str, data_dirs: dict[str, Path | None] = DATA_DIRS, **job_options: Any
) -> Path:
    """Steps 1-4 of the module docstring; returns the results.json path."""
    records, histories = [], {}
    log = runs / "collect.log"
    for dataset, setting, seed, folder in runs_in(runs):
        job = Job(dataset, setting, seed, 0, folder, data_dirs.get(dataset), **job_options)
        models = tuple(p for p in job.checkpoints if p.exists())
        print(f"{job.preset} seed {seed}: reporting {', '.join(p.stem for p in models)}", flush=True)
        test = report_job(job, "test", True, log, models)
        train = report_job(job, "train", False, log, models)
        limit = job_options.get("eval_images")

        def load(dataset: str = dataset, limit: int | None = limit) -> ImageData:
            return load_images(DATASET_NAMES[dataset], "train", data_dirs.get(dataset), limit=limit)

        for path in models:
            name, objective = path.stem, path.stem.rsplit("-", 1)[1]
            rec = training_record(path)
            t, tr = (test[name], train[name]) if len(models) > 1 else (test, train)
            records.append(
                {
                    "dataset": dataset,
                    "setting": setting,
                    "objective": objective,
                    "seed": seed,
                    "iterations": rec.get("iterations_done"),
                    "n_train": rec.get("n_train"),
                    "epochs": rec.get("iterations_done", 0)
                    * rec["config"]["batch_size"]
                    / max(rec.get("n_train", 1), 1),
                    "checkpoint": str(path),
                    "train_seconds_recorded": float(sum(r.get("seconds", 0.0) for r in rec.get("history", []))),
                    "cluster_method": t["cluster"]["attrs"].get("method"),
                    **model_metrics(t, tr, TARGETS[setting]),
                    "acc_majority_train_paper": paper_protocol_accuracy(path, load),
                }
            )
            histories[f"{job.preset} s{seed} {objective}"] = history_columns(path)
    out.mkdir(parents=True, exist_ok=True)
    previous = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    kept = [r for r in previous.get("runs", []) if not str(r.get("setting", "")).endswith("-paper")]
    meta = dict(previous.get("meta", {}))
    meta["paper_presets"] = {"command": command, "machine": machine(), "runs": str(runs)}
    json_path, _ = write_results(out, kept + records, summarise(kept + records), meta)
    if histories:
        print(f"wrote {curves_figure(histories, out / 'paper_curves.png')}")
    print(f"wrote {json_path} and {out / 'results.md'}")
    return json_path


def quick(tmp: Path) -> Path:
    """Smoke path: a sample-joint-paper pair of 40 iterations, then `collect` on 300 images, in `tmp`."""
    runs = tmp / "runs"
    for objective in ("elbo", "mi"):
        script = str(Path(__file__).with_name("reproduce_paper.py"))
        cmd = [sys.executable, script, "train", "--preset", "sample-joint-paper", "--objective", objective,
               "--iterations", "40", "--eval-every", "20", "--checkpoint-every", "20", "--heldout", "300",
               "--eval-train-images", "500", "--runs-dir", str(runs)]  # fmt: skip
        subprocess.run(cmd, check=True)
    return collect(runs, tmp / "results", "benchmarks/reproduce_paper.py quick", eval_images=300, q_pairs=300)
