"""The README's results tables, generated from `benchmarks/results/results.json` and never typed by hand.

The README holds the tables between `<!-- results:begin -->` and `<!-- results:end -->`; this module
renders them from the JSON's `summary` (one row per dataset, setting and objective, as
`results_table.summarise` writes it) and rewrites only that block, so the prose around it stays the
author's and every number in it is one that a run recorded. `tests/test_readme_results.py` fails when
the README and results.json disagree.

    .venv/bin/python benchmarks/readme_results.py            # rewrite README.md's block in place
    .venv/bin/python benchmarks/readme_results.py --check    # exit 1 if the block is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from results_table import METRICS, PAPER, TARGETS, format_cell  # a sibling script: benchmarks/ is on sys.path

from vmieval.atomic import atomic_write

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
DATASET_TITLES = {"mnist": "MNIST", "fashion": "Fashion", "sample": "sample"}
SETTING_TITLES = {
    "joint": "Our preset, joint setting (16-d z + 10-way c, MI on c; MLP 512-256, lambda 5, aggregate entropy)",
    "gauss32": "Our preset, gauss32 setting (32-d z, MI on z[0:2]; MLP 512-256, lambda 1)",
    "joint-consistency": "Our preset with augmentation consistency on c (`mnist-joint-consistency`: as joint, "
    "plus KL(q(c|x) ‖ q(c|x moved)) with weight 20 on the MI side only, so its ELBO models are the joint "
    "preset's, the same checkpoints; no decoder-side Q bound fitted)",
    "joint-paper": "The paper's protocol, joint setting (`mnist-joint-paper`, `fashion-joint-paper`: conv + batch "
    "norm, mean-MSE on [−1, 1], MI weight 0.01, Fashion-MNIST 0.0005 as in the paper's configs)",
    "gauss32-paper": "The paper's protocol, gauss32 setting (conv + batch norm, MI on z[0:2])",
}
ROW_LABELS = {"kl_target": "KL of the MI target, E_x KL(q ‖ p) (test)"}


def _budget(row: dict[str, Any]) -> str:
    """How much a column was trained: seeds, images, and epochs or the iterations each seed reached."""
    images = ", ".join(f"{n:,}" for n in row.get("n_train", [])) or "number of"
    if row.get("iterations"):
        done = ", ".join(f"{i:,}" for i in row["iterations"])
        trained = f"{done} of 150,000 iterations ({', '.join(f'{e:g}' for e in row.get('epochs', []))} epochs)"
    else:
        trained = f"{', '.join(f'{e:g}' for e in row.get('epochs', [])) or '?'} epochs"
    recorded = "" if row.get("n_train") else " not recorded (a run from before this field)"
    return f"{row['seeds']} seed{'s' * (row['seeds'] > 1)}, {images} training images{recorded}, {trained}"


def setting_table(summary: list[dict[str, Any]], setting: str) -> list[str]:
    """One markdown table for a setting: a column per (dataset, objective), the paper's beside its dataset."""
    rows = {(r["dataset"], r["objective"]): r for r in summary if r["setting"] == setting}
    datasets = [d for d in DATASET_TITLES if any(key[0] == d for key in rows)]
    header, columns = ["metric"], []
    for dataset in datasets:
        for objective in ("elbo", "mi"):
            if (dataset, objective) in rows:
                header.append(f"{DATASET_TITLES[dataset]} {objective.upper()}")
                columns.append(("model", rows[(dataset, objective)], None))
        if (dataset, setting) in PAPER:
            header.append("paper ELBO / MI")
            columns.append(("paper", None, PAPER[(dataset, setting)]))
    lines = [f"**{SETTING_TITLES.get(setting, setting)}**", ""]
    lines += [f"- {title}: {_budget(row)}" for title, row in _column_rows(rows, datasets)]
    lines += ["", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for key, (label, fmt) in METRICS.items():
        cells = []
        for kind, row, paper in columns:
            if kind == "model":
                cells.append(format_cell(row[key], fmt) if key in row else "–")
            else:
                cells.append(" / ".join(fmt.format(v) for v in paper[key]) if key in paper else "–")
        if any(c != "–" for c, (kind, _, _) in zip(cells, columns, strict=True) if kind == "model"):
            lines.append(f"| {ROW_LABELS.get(key, label)} | " + " | ".join(cells) + " |")
    return lines


def _column_rows(rows: dict[tuple[str, str], dict[str, Any]], datasets: list[str]) -> list[tuple[str, dict]]:
    return [
        (f"{DATASET_TITLES[d]} {o.upper()}", rows[(d, o)]) for d in datasets for o in ("elbo", "mi") if (d, o) in rows
    ]


def results_block(document: dict[str, Any]) -> str:
    """The README block: every setting results.json holds, ours first, then the paper's protocol."""
    summary = document["summary"]
    present = {r["setting"] for r in summary}
    order = [s for s in SETTING_TITLES if s in present] + sorted(present - SETTING_TITLES.keys())
    targets = ", ".join(f"{setting} → {TARGETS.get(setting, '?')}" for setting in order)
    lines = [
        BEGIN,
        "<!-- generated by benchmarks/readme_results.py from benchmarks/results/results.json: do not edit -->",
        "",
        "Mean ± sample std over seeds (one seed: its value); MI in nats (log 10 = 2.303, the ceiling for c); "
        f"MI targets: {targets}; `–`: does not apply.",
        "",
    ]
    for setting in order:
        lines += setting_table(summary, setting) + [""]
    lines.append(END)
    return "\n".join(lines)


def replace_block(readme: str, block: str) -> str:
    """`readme` with the text between the markers (markers included) replaced by `block`."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {BEGIN} … {END} block")
    return readme[:start] + block + readme[end + len(END) :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "results.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's block is stale")
    args = parser.parse_args()
    readme = args.readme.read_text()
    updated = replace_block(readme, results_block(json.loads(args.results.read_text())))
    if args.check:
        print("README results block is up to date" if updated == readme else "README results block is stale")
        return int(updated != readme)
    atomic_write(args.readme, lambda tmp: Path(tmp).write_text(updated), force=True)
    print(f"wrote {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
