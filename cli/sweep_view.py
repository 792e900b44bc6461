"""What `vmieval sweep` and `vmieval merge` show: the progress line while models run, and the merged table.

The terminal table keeps the headline numbers (encoder-side I_q and KL bound, Barber-Agakov bounds, ELBO,
Hungarian accuracy) with their standard errors; `sweep.csv` and `sweep.h5` hold every column.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vmieval.cli import output
from vmieval.cli.progress import progress

HEADLINE = ("|exact|", "|estimate|", "|upper_bound|kl|", "|barber-agakov|")
EXTRA = ("elbo", "cluster:accuracy_hungarian")


def headline_metrics(table: Any) -> list[str]:
    mi = [m for m in table.metrics if m.startswith("mi:") and any(h in m + "|" for h in HEADLINE)]
    mi = [m for m in mi if not m.startswith("mi:I_q(y;t)")]
    return mi + [m for m in EXTRA if m in table.metrics]


def _cell(row: dict[str, Any], metric: str) -> str:
    value, stderr = row.get(metric), row.get(metric + ":stderr")
    if not isinstance(value, int | float) or math.isnan(value):
        return "–"
    if not isinstance(stderr, int | float) or math.isnan(stderr):
        return f"{value:.3f}"
    return f"{value:.3f} ± {stderr:.3f}"


def varying(table: Any) -> list[str]:
    """The hyper-parameters that differ between models (the terminal shows those; the files keep all)."""
    return [h for h in table.hyper if len({str(v) for v in table.column(h)}) > 1]


def sweep_blocks(table: Any) -> list[Any]:
    metrics, hypers = headline_metrics(table), varying(table)
    columns = [output.Column("model"), output.Column("status"), *(output.Column(h) for h in hypers)]
    columns += [output.Column(table.labels.get(m, m), "right") for m in metrics]
    rows = []
    for row in table.rows:
        status = row["status"] if row["status"] != "failed" else f"failed: {row.get('error', '')}"
        hyper = [("–" if row.get(h) is None or row.get(h) == "" else f"{row[h]:g}" if isinstance(row[h], float)
                  else str(row[h])) for h in hypers]  # fmt: skip
        rows.append([str(row["model"]), status, *hyper, *(_cell(row, m) for m in metrics)])
    note = "nats; value ± 1 standard error; every column (and each estimate's stderr) is in sweep.csv and sweep.h5"
    return [output.Table(f"sweep: {len(table.rows)} models", columns, rows, footnotes=(note,))]


def show_table(table: Any) -> None:
    if output.settings().format == "json":
        output.emit([], document=[{k: v for k, v in r.items()} for r in table.rows])
    elif output.settings().format == "csv":
        from vmieval.sweep.table import to_csv

        print(to_csv(table), end="")
    else:
        output.emit(sweep_blocks(table))


def _status(state: Any) -> str:
    eta = state.eta_s()
    left = "" if eta is None else f" · ETA {int(eta // 60)}:{int(eta % 60):02d}"
    return f"done {state.done} · cached {state.cached} · running {state.running} · failed {state.failed}{left}"


def run_with_progress(jobs: list[Any], folder: Path, engine: Any, argv: list[str], name_from: str | None) -> Any:
    """`run_sweep` under a progress bar; Ctrl-C says what was kept before the CLI's exit 130."""
    from vmieval.sweep.run import SweepInterrupted, run_sweep

    with progress() as bar:
        task = bar.add_task("sweep", total=len({j.key for j in jobs}), status="")

        def show(state: Any) -> None:
            last = "" if state.last is None else f"{state.last.name} {state.last.status}"
            bar.update(task, completed=state.finished, status=_status(state), description=f"sweep {last}".strip())

        try:
            return run_sweep(jobs, folder, engine, show, argv, name_from)
        except SweepInterrupted as stop:
            done = sum(r["status"] == "done" for r in stop.result.table.rows)
            output.info(f"interrupted: {done} finished models kept in {stop.result.h5}; rerun the command to resume")
            raise KeyboardInterrupt from None
