"""The merged sweep table: a row per model, written as `sweep.h5` (a dataset per column) and `sweep.csv`.

Columns, in order: the model's identity (`model`, `status`, `error`, `checkpoint`, `sha256`, `key`, `dataset`,
`split`, `n`, `report_seed`; `seconds` and `worker`: how long its job took, where), its hyper-parameters under
their own names (`lam`, `beta`, `seed`; a name that clashes with an identity column gets `hp:` in front), then
every number with its standard error beside it (`elbo`, `elbo:stderr`, `kl:z`, `kl:z:stderr`,
`mi:<row key with | for />`, `mi:...:stderr`, `cluster:nmi`).
A number a model lacks is NaN in HDF5 and empty in CSV. `/table/<column>@label` keeps the report's short label
for the terminal table.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vmieval.outputs import atomic_write

SCHEMA = "vmieval-sweep/1"
IDENTITY = (
    "model", "status", "error", "checkpoint", "sha256", "key", "dataset", "split", "n", "report_seed",
    "seconds", "worker",
)  # fmt: skip
STDERR = ":stderr"
STRING = h5py.string_dtype(encoding="utf-8")


@dataclass
class SweepTable:
    """Rows (column -> value) plus the column order, which columns are hyper-parameters, and labels."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    hyper: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # value columns; `<metric>:stderr` beside each
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        numbers = [c for m in self.metrics for c in (m, m + STDERR)]
        return [*IDENTITY, *self.hyper, *numbers]

    def column(self, name: str) -> list[Any]:
        return [row.get(name) for row in self.rows]

    def is_numeric(self, name: str) -> bool:
        values = [v for v in self.column(name) if v is not None and v != ""]
        return bool(values) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_csv(table: SweepTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_cell(row.get(c)) for c in table.columns])
    return buffer.getvalue()


def write_table(table: SweepTable, folder: str | Path, argv: list[str] | None = None) -> tuple[Path, Path]:
    """`sweep.h5` and `sweep.csv` in `folder`, each atomically (temporary file, then rename)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def write_h5(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema"] = SCHEMA
            f.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
            f.attrs["argv"] = json.dumps(argv or [])
            f.attrs["models"] = np.array([str(m) for m in table.column("model")], dtype=object).astype(STRING)
            f.attrs["hyperparameters"] = np.array(table.hyper, dtype=object).astype(STRING)
            f.attrs["metrics"] = np.array(table.metrics, dtype=object).astype(STRING)
            group = f.create_group("table")
            group.attrs["columns"] = np.array(table.columns, dtype=object).astype(STRING)
            for name in table.columns:
                values = table.column(name)
                if table.is_numeric(name) or name in table.metrics or name.endswith(STDERR):
                    data = np.array([np.nan if v is None or v == "" else float(v) for v in values], dtype=np.float64)
                    ds = group.create_dataset(name, data=data)
                else:
                    ds = group.create_dataset(name, data=[_cell(v) for v in values], dtype=STRING)
                ds.attrs["label"] = table.labels.get(name, name)

    h5 = atomic_write(folder / "sweep.h5", write_h5, force=True)
    text = to_csv(table)
    out_csv = atomic_write(folder / "sweep.csv", lambda tmp: Path(tmp).write_text(text), force=True)
    return h5, out_csv


def read_table(path: str | Path) -> SweepTable:
    """A `sweep.h5` back as a SweepTable (numbers as floats, NaN for missing)."""
    with h5py.File(path, "r") as f:
        group = f["table"]
        columns = [str(c) for c in group.attrs["columns"]]
        data: dict[str, list[Any]] = {}
        labels = {}
        for name in columns:
            ds = group[name]
            labels[name] = str(ds.attrs.get("label", name))
            data[name] = [float(v) for v in ds[()]] if ds.dtype.kind == "f" else list(ds.asstr()[()])
        table = SweepTable(
            hyper=[str(h) for h in f.attrs["hyperparameters"]],
            metrics=[str(m) for m in f.attrs["metrics"]],
            labels=labels,
        )
    n = len(data["model"]) if "model" in data else 0
    table.rows = [{c: data[c][i] for c in columns} for i in range(n)]
    return table


def _estimate(row: dict[str, Any], metric: str) -> str:
    value, stderr = row.get(metric), row.get(metric + STDERR)
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if stderr is None or stderr == "" or (isinstance(stderr, float) and math.isnan(stderr)):
        return f"{value:.3f}"
    return f"{value:.3f} ± {stderr:.3f}"


def markdown(table: SweepTable, metrics: list[str] | None = None) -> str:
    """The table for a terminal or a README: model, status, hyper-parameters, value ± stderr per metric."""
    shown = metrics if metrics is not None else table.metrics
    head = ["model", "status", *table.hyper, *(table.labels.get(m, m) for m in shown)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in table.rows:
        status = row["status"] if row["status"] != "failed" else f"failed: {row.get('error', '')}"
        hyper = [_cell(row.get(h)) or "–" for h in table.hyper]
        cells = [str(row["model"]), status, *hyper, *(_estimate(row, m) for m in shown)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
