"""What `vmieval report` shows: the metric table, contingency tables side by side, training curves, notes.

Pure presentation: every number comes from a `Report` or a `Comparison` already computed by
`vmieval.results`; nothing here calculates anything beyond formatting. The views are
`vmieval.cli.output` tables, so every `--format` (terminal table, Markdown, CSV, JSON) shows the
same cells.
"""

from __future__ import annotations

import math

import numpy as np
from vmieval.cli.output import Block, Cell, Column, Notes, SideBySide, Styled, Table

from vmieval.estimators.decoder.intervals import Difference
from vmieval.results import Comparison, Report


def fmt(value: float, digits: int = 3) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _cell(value: float, stderr: float, note: str) -> Styled:
    parts = [(fmt(value), "")]
    if math.isfinite(value) and math.isfinite(stderr) and stderr > 0:
        parts.append((f" ± {fmt(stderr)}", "dim"))
    if note and note != "n/a":
        parts.append((" *", "yellow"))
    return Styled(tuple(parts))


def _difference_cell(d: Difference) -> Cell:
    """A difference, ± its stderr, marked (noise) when its 95% interval contains 0."""
    if not math.isfinite(d.value):
        return "—"
    parts = [(f"{d.value:+.3f}", "")]
    if math.isfinite(d.stderr) and d.stderr > 0:
        parts.append((f" ± {fmt(d.stderr)}", "dim"))
    if d.within_noise:
        parts.append((" (noise)", "yellow"))
    return Styled(tuple(parts))


def column_letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"M{i + 1}"


def metrics_table(comparison: Comparison, reports: list[Report]) -> Table:
    """One row per metric, one column per model (A, B, ...), then B − A, C − A, ..."""
    splits = sorted({r.meta.split for r in reports})
    data = sorted({f"{r.meta.dataset} {r.meta.split} (N={r.meta.n})" for r in reports})
    columns = [Column("metric")]
    columns += [Column(f"{column_letter(i)}: {name}", "right") for i, name in enumerate(comparison.models)]
    columns += [Column(f"{column_letter(i)} − A", "right", style="cyan") for i in range(1, len(comparison.models))]
    rows: list[list[Cell]] = []
    for row in comparison.rows:
        unit = row.unit.startswith("nats")
        cells: list[Cell] = [Styled(((row.label, ""), (f" [{row.unit}]", "dim"))) if unit else row.label]
        cells += [_cell(v, s, n) for v, s, n in zip(row.values, row.stderr, row.notes, strict=True)]
        cells += [_difference_cell(d) for d in row.differences]
        rows.append(cells)
    footnotes = (
        [f"all numbers on the {splits[0]} split; ± is one standard error; * see notes"] if len(splits) == 1 else []
    )
    if len(comparison.models) > 1:
        footnotes.append("X − A: the difference ± its standard error; (noise): its 95% interval contains 0")
    return Table(f"vmieval report: {', '.join(data)}", columns, rows, footnotes)


def contingency_table(report: Report) -> Table | None:
    """Labels (rows) x categories (columns); each row's largest count in bold."""
    cat = report.categorical
    if cat is None or cat.contingency is None:
        return None
    c = cat.contingency
    columns = [Column("y", style="dim"), *(Column(str(k), "right") for k in range(c.counts.shape[1]))]
    rows: list[list[Cell]] = []
    for label, row in zip(c.labels, c.counts, strict=True):
        best = int(np.argmax(row)) if row.sum() else -1
        styles = ["bold" if k == best else "dim" if v == 0 else "" for k, v in enumerate(row)]
        rows.append([str(int(label)), *(Styled(((str(int(v)), st),)) for v, st in zip(row, styles, strict=True))])
    return Table(f"{report.name}: label x {c.block}", columns, rows)


def factor_table(report: Report) -> Table | None:
    """I_q(z_j; v_k) in nats: one row per latent dim, one column per factor, each factor's most
    informative dim in bold; H(v_k) and each factor's MIG gap as the last rows."""
    f = report.factors
    if f is None:
        return None
    mi = f.mi
    columns = [Column("latent"), *(Column(name, "right") for name in mi.factor_names), Column("I_q(x; z_j)", "right")]
    best = mi.values.argmax(axis=0)
    rows: list[list[Cell]] = []
    for j, latent in enumerate(mi.latent_names):
        cells: list[Cell] = [latent]
        for k in range(len(mi.factor_names)):
            style = "bold" if best[k] == j else ""
            cells.append(Styled(((fmt(mi.values[j, k], 2), style), (f" ± {fmt(mi.stderr[j, k], 2)}", "dim"))))
        cells.append(fmt(mi.latent_info[j], 2))
        rows.append(cells)
    rows.append([Styled((("H(v_k)", "dim"),)), *(fmt(h, 2) for h in mi.factor_entropy), ""])
    rows.append([Styled((("MIG gap", "dim"),)), *(fmt(g, 3) for g in f.mig.gaps), ""])
    footnotes = [
        f"{mi.estimator}; N={mi.n}, {mi.split} split; nats; bold: each factor's most informative dim",
        f"MIG {fmt(f.mig.value)} ± {fmt(f.mig.stderr)}; {f.histogram_mig.estimator}: "
        f"{fmt(f.histogram_mig.value)} ± {fmt(f.histogram_mig.stderr)} (bootstrap)",
    ]
    if f.mig.skipped:
        footnotes.append(f"left out of MIG (one class): {', '.join(f.mig.skipped)}")
    return Table(f"{report.name}: I_q(z_j; v_k), latent x factor", columns, rows, footnotes)


LATENT_ROWS = 16  # a table longer than this shows the top-KL dims and sums up the rest


def latent_table(report: Report) -> Table | None:
    """Per Gaussian dim, sorted by KL: KL to the prior, I_q(x; z_j), Var_x E_q[z_j|x], active or not;
    the footnote states the active-unit count and its threshold."""
    s = report.latents
    if s is None:
        return None
    columns = [Column("dim"), Column("E_x KL(q(z_j|x) || p) [nats]", "right"), Column("I_q(x; z_j) [nats]", "right")]
    columns += [Column("Var_x E[z_j|x]", "right"), Column("active", "right")]
    order = s.order()
    rows: list[list[Cell]] = []
    for j in order[:LATENT_ROWS]:
        style = "" if s.active[j] else "dim"
        rows.append([
            Styled(((s.names[j], style),)),
            _cell(float(s.kl[j]), float(s.kl_stderr[j]), ""),
            _cell(float(s.iq[j]), float(s.iq_stderr[j]), ""),
            fmt(float(s.mean_variance[j])),
            "yes" if s.active[j] else Styled((("no", "dim"),)),
        ])  # fmt: skip
    rest = order[LATENT_ROWS:]
    if rest.size:
        rows.append(
            [f"{rest.size} more", fmt(float(s.kl[rest].sum())) + " in all", "", "", str(int(s.active[rest].sum()))]
        )
    total = float(s.kl.sum())
    footnotes = [
        f"{s.n_active} of {len(s.names)} dims active: Var_x E_q[z_j|x] > {s.active_threshold:g} (Burda et al. 2016); "
        f"sorted by KL, {fmt(total)} nats in all",
        f"I_q(x; z_j): Monte Carlo over the {s.split} split's mixture, one code per image, at most log N = "
        f"{fmt(float(np.log(s.n)))}; KL is its upper bound",
    ]
    return Table(f"{report.name}: per latent dim (N={s.n}, {s.split} split)", columns, rows, footnotes)


def contingency_panel(reports: list[Report]) -> SideBySide | None:
    tables = [t for t in (contingency_table(r) for r in reports) if t is not None]
    return SideBySide(tables) if tables else None


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
    columns = [Column("curve"), *(Column(f"{name} (epoch {c.n_epochs})", "right") for name, c in curves)]
    rows: list[list[Cell]] = []
    for key in keys:
        cells: list[Cell] = [key]
        for _, c in curves:
            column = c.columns.get(key)
            finite = column[np.isfinite(column)] if column is not None else np.empty(0)
            cells.append(fmt(float(finite[-1])) if finite.size else "—")
        rows.append(cells)
    return Table("training history, last epoch", columns, rows)


def notes_lines(reports: list[Report]) -> list[str]:
    """What a reader must know about the numbers: baselines, invalid bounds, warnings, skips.
    A note shared by several models is printed once, with their names."""
    found: dict[str, list[str]] = {}
    for r in reports:
        lines = []
        if r.cluster is not None and r.cluster.is_baseline:
            lines.append(f"no categorical block; cluster scores are a {r.cluster.method}")
        by_note: dict[str, list[str]] = {}  # rows that share a note are named together
        for e in r.estimates:
            if e.note or not e.valid:
                by_note.setdefault(e.note or "not a valid bound", []).append(e.label)
        lines += [f"{'; '.join(labels)}: {note}" for note, labels in by_note.items()]
        lines += [f"{key}: {note}" for key, note in r.notes.items()]
        for line in lines:
            found.setdefault(line, []).append(r.name)
    return [f"{', '.join(names)}: {line}" for line, names in found.items()]


def report_view(comparison: Comparison, reports: list[Report]) -> list[Block]:
    """Everything `vmieval report` prints on stdout, in reading order (the files it wrote go to stderr)."""
    parts: list[Block] = [metrics_table(comparison, reports)]
    parts += [t for t in (latent_table(r) for r in reports) if t is not None]
    parts += [t for t in (factor_table(r) for r in reports) if t is not None]
    for extra in (contingency_panel(reports), training_table(reports)):
        if extra is not None:
            parts.append(extra)
    notes = notes_lines(reports)
    if notes:
        parts.append(Notes("notes:", notes))
    return parts
