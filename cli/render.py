"""Rich renderings of reports: the metric table, contingency tables side by side, notes and files.

Pure presentation: every number comes from a `Report` or a `Comparison` already computed by
`vmieval.results`; nothing here calculates anything beyond formatting.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from vmieval.results import Comparison, Report


def fmt(value: float, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _cell(value: float, stderr: float, note: str) -> Text:
    text = Text(fmt(value))
    if math.isfinite(value) and math.isfinite(stderr) and stderr > 0:
        text.append(f" ± {fmt(stderr)}", style="dim")
    if note and note != "n/a":
        text.append(" *", style="yellow")
    return text


def column_letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"M{i + 1}"


def metrics_table(comparison: Comparison, reports: list[Report]) -> Table:
    """One row per metric, one column per model (A, B, ...), then B − A, C − A, ..."""
    splits = sorted({r.meta.split for r in reports})
    data = sorted({f"{r.meta.dataset} {r.meta.split} (N={r.meta.n})" for r in reports})
    table = Table(title=Text(f"vmieval report: {', '.join(data)}"), title_justify="left")
    table.add_column("metric", ratio=3, min_width=16)
    for i, name in enumerate(comparison.models):
        table.add_column(Text(f"{column_letter(i)}: {name}"), justify="right", overflow="fold", ratio=1)
    for i in range(1, len(comparison.models)):
        table.add_column(f"{column_letter(i)} − A", justify="right", style="cyan")
    for row in comparison.rows:
        label = Text(row.label)
        if row.unit.startswith("nats"):
            label.append(f" [{row.unit}]", style="dim")
        cells: list[RenderableType] = [label]
        cells += [_cell(v, s, n) for v, s, n in zip(row.values, row.stderr, row.notes, strict=True)]
        cells += [Text(f"{d:+.3f}" if math.isfinite(d) else "—") for d in row.difference]
        table.add_row(*cells)
    if len(splits) == 1:
        table.caption = f"all numbers on the {splits[0]} split; ± is one standard error; * see notes"
    return table


def contingency_table(report: Report) -> Table | None:
    """Labels (rows) x categories (columns); each row's largest count in bold."""
    cat = report.categorical
    if cat is None or cat.contingency is None:
        return None
    c = cat.contingency
    table = Table(title=f"{report.name}: label x {c.block}", title_justify="left", pad_edge=False, padding=(0, 1))
    table.add_column("y", style="dim")
    for k in range(c.counts.shape[1]):
        table.add_column(str(k), justify="right")
    for label, row in zip(c.labels, c.counts, strict=True):
        best = int(np.argmax(row)) if row.sum() else -1
        cells = [Text(str(int(v)), style="bold" if k == best else "dim" if v == 0 else "") for k, v in enumerate(row)]
        table.add_row(str(int(label)), *cells)
    return table


def contingency_panel(reports: list[Report]) -> RenderableType | None:
    tables = [t for t in (contingency_table(r) for r in reports) if t is not None]
    return Columns(tables, padding=(0, 4)) if tables else None


TRAINING_KEYS = ("elbo", "recon", "mi_bound", "temperature")


def training_table(reports: list[Report]) -> Table | None:
    """The last epoch's value of the main training curves (the full curves are in `training/`)."""
    curves = [(r.name, r.curves) for r in reports if r.curves is not None and r.curves.n_epochs]
    if not curves:
        return None
    keys: list[str] = []
    for _, c in curves:
        for key, column in c.columns.items():
            wanted = key in TRAINING_KEYS or key.startswith(("kl.", "iq_exact."))
            if wanted and column.ndim == 1 and key not in keys:
                keys.append(key)
    table = Table(title="training history, last epoch", title_justify="left")
    table.add_column("curve")
    for name, c in curves:
        table.add_column(Text(f"{name} (epoch {c.n_epochs})"), justify="right", overflow="fold")
    for key in keys:
        cells = []
        for _, c in curves:
            column = c.columns.get(key)
            finite = column[np.isfinite(column)] if column is not None else np.empty(0)
            cells.append(fmt(float(finite[-1])) if finite.size else "—")
        table.add_row(Text(key), *cells)
    return table


def notes_lines(reports: list[Report]) -> list[str]:
    """What a reader must know about the numbers: baselines, invalid bounds, warnings, skips.
    A note shared by several models is printed once, with their names."""
    found: dict[str, list[str]] = {}
    for r in reports:
        lines = []
        if r.cluster is not None and r.cluster.is_baseline:
            lines.append(f"no categorical block; cluster scores are a {r.cluster.method}")
        flagged = [e for e in r.estimates if e.note or not e.valid]
        lines += [f"{e.label}: {e.note or 'not a valid bound'}" for e in flagged]
        lines += [f"{key}: {note}" for key, note in r.notes.items()]
        for line in lines:
            found.setdefault(line, []).append(r.name)
    return [f"{', '.join(names)}: {line}" for line, names in found.items()]


def files_table(folder: Path, reports: list[Report], h5: Path) -> Table:
    table = Table(title=Text(f"written to {folder}"), title_justify="left", show_header=False)
    table.add_row("report", Text(str(h5)))
    for r in reports:
        if r.png:
            names = ", ".join(Path(p).name for p in r.png.values())
            table.add_row(Text(f"{r.name} grids"), Text(names))
    return table


def report_view(comparison: Comparison, reports: list[Report], folder: Path, h5: Path) -> Group:
    """Everything `vmieval report` prints, in reading order."""
    parts: list[RenderableType] = [metrics_table(comparison, reports)]
    for extra in (contingency_panel(reports), training_table(reports)):
        if extra is not None:
            parts.append(extra)
    notes = notes_lines(reports)
    if notes:
        parts.append(Text("notes:\n" + "\n".join(f"* {line}" for line in notes), style="yellow"))
    parts.append(files_table(folder, reports, h5))
    return Group(*parts)
