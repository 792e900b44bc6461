"""Which PNGs a report writes, and from which of its arrays (`vmieval.figures` draws them).

Per model: every traversal grid (`<model>-<grid>.png`, paper Figs 2-5, with the input images
beside it) and the digit-to-category bars (`<model>-contingency_<c>.png`, Figs 9/10). Figures that
overlay models are drawn once for the whole report: the q(c=k|x) histograms
(`<stem>-probabilities_<c>.png`, Fig 6) and the training curves (`<stem>-training.png`, Figs 7/8),
where `<stem>` is the model's name for a single report and `comparison` for several; a comparison
also gets its MI table as bars (`comparison-mi.png`). Every figure is drawn from the same arrays
`report.h5` stores, so the file and the pictures cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures import (
    contingency_figure,
    factor_heatmap_figure,
    has_curves,
    latent_bars_figure,
    mi_comparison_figure,
    probability_histogram_figure,
    save_figure,
    training_curves_figure,
    traversal_figure,
)
from vmieval.results.compare import compare
from vmieval.results.report import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vmieval.analysis.traversals import Grid, Traversals

COMPARISON = "comparison"


def png_path(out_dir: Path, stem: str, figure: str) -> Path:
    return out_dir / f"{stem}-{figure}.png"


def _span(values: np.ndarray) -> str:
    """`0..9` for categories, `-3 to 3` (with a true minus sign) for a swept value."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if np.all(values == np.round(values)):
        return f"= {int(lo)}..{int(hi)}"
    return f"from {lo:g} to {hi:g}".replace("-", "\N{MINUS SIGN}")


def _why(report: Report, grid: Grid) -> str:
    """Why a Gaussian grid shows these dims: their mean KL and rank (the default picks the highest)."""
    s = report.latents
    swept = [grid.cols] if grid.rows == "sample" else [grid.rows, grid.cols]
    if grid.name.startswith("categories_") and report.cluster is not None:
        return f"; {grid.cols}=k at the left: the image's argmax q({grid.cols}|x)"
    if s is None or not all(d in s.names for d in swept):
        return ""
    rank = {s.names[j]: r + 1 for r, j in enumerate(s.order())}
    shown = ", ".join(f"{d} KL {s.kl[s.names.index(d)]:.2f} nats (rank {rank[d]} of {len(s.names)})" for d in swept)
    return f"; their KL: {shown}"


def grid_figure(report: Report, traversals: Traversals, grid: Grid) -> Figure:
    """One traversal grid, labelled: rows are images of the split (their numbers at the left, the
    images themselves in the input column) or, for the Fig 2 pair, the second swept dim."""
    n_rows, n_cols = grid.cells.shape[:2]
    padding = (grid.pixels.shape[1] - n_cols * grid.cells.shape[-1]) // (n_cols + 1)  # make_grid's layout
    per_sample = grid.rows == "sample"
    inputs, recons = traversals.inputs, traversals.recons
    if inputs is not None and not per_sample:
        inputs = inputs[:1]  # the pair grid starts from the first sample only
        recons = recons[:1] if recons is not None else None
    names = [f"#{int(i)}" for i in traversals.sample_indices]
    cluster = report.cluster
    if grid.name.startswith("categories_") and cluster is not None and cluster.block == grid.cols:
        names = [
            f"{n}\n{grid.cols}={int(cluster.assignments[i])}"
            for n, i in zip(names, traversals.sample_indices, strict=True)
        ]
    return traversal_figure(
        grid.pixels,
        n_rows,
        n_cols,
        grid.values,
        model=report.name,
        title=grid.title + _why(report, grid),
        col_label=f"{grid.cols} {_span(grid.values)}",
        row_label=f"{traversals.split} image (number)" if per_sample else f"{grid.rows} {_span(grid.values)}",
        row_values=None if per_sample else grid.values,
        row_names=names if per_sample else None,
        inputs=inputs,
        padding=padding,
        recons=recons,
    )


def latents_figure(report: Report) -> Figure:
    """KL and I_q per Gaussian dim, from `latents/`."""
    s = report.latents
    assert s is not None
    return latent_bars_figure(
        list(s.names), s.kl, s.kl_stderr, s.iq, s.iq_stderr, s.active,
        model=report.name, threshold=s.active_threshold, n=s.n, split=s.split,
    )  # fmt: skip


def factors_figure(report: Report) -> Figure:
    """The I_q(z_j; v_k) heatmap with MIG per factor, from `factors/`."""
    f = report.factors
    assert f is not None
    mi = f.mi
    return factor_heatmap_figure(
        mi.values, list(mi.latent_names), list(mi.factor_names), mi.factor_entropy, np.asarray(f.mig.gaps),
        np.asarray(f.mig.top_two), model=report.name, mig=f.mig.value, mig_stderr=f.mig.stderr, n=mi.n,
        split=mi.split,
    )  # fmt: skip


def log_k_ceiling(reports: list[Report], key: str) -> float | None:
    """Σ log K over the target of MI row `key` when every part of it is a whole categorical block, else None."""
    import math

    from vmieval.results.compare import metric_key
    from vmieval.spec import ModelSpec, parse_target

    for r in reports:
        for e in r.estimates:
            if metric_key(e) != key:
                continue
            spec = ModelSpec.from_dict(r.meta.spec)
            parts = parse_target(e.target, spec).parts
            if all(spec.block(p.block).kind == "categorical" for p in parts):
                return sum(math.log(spec.block(p.block).size) for p in parts)
            return None
    return None


def report_figures(reports: list[Report], out: Path) -> list[tuple[str | None, Path, Callable[[], Figure]]]:
    """Every figure of the report as (owning model or None, path, builder); building is deferred
    so a caller can check the paths before drawing anything."""
    plans: list[tuple[str | None, Path, Callable[[], Figure]]] = []
    for r in reports:
        if r.latents is not None:
            plans.append((r.name, png_path(out, r.name, "latents"), lambda r=r: latents_figure(r)))
        if r.factors is not None:
            plans.append((r.name, png_path(out, r.name, "factors"), lambda r=r: factors_figure(r)))
        t = r.traversals
        for grid in t.grids if t is not None else ():
            plans.append((r.name, png_path(out, r.name, grid.name), lambda r=r, t=t, g=grid: grid_figure(r, t, g)))
        c = r.categorical.contingency if r.categorical is not None else None  # None: the images had no labels
        if c is not None:
            plans.append(
                (
                    r.name,
                    png_path(out, r.name, f"contingency_{c.block}"),
                    lambda r=r, c=c: contingency_figure(c.counts, c.labels, model=r.name, block=c.block, split=c.split),
                )
            )
    stem, owner = (reports[0].name, reports[0].name) if len(reports) == 1 else (COMPARISON, None)
    hists = [r.categorical.histograms for r in reports if r.categorical is not None]
    if hists and all(h.block == hists[0].block and np.array_equal(h.edges, hists[0].edges) for h in hists):
        counts = {r.name: r.categorical.histograms.counts for r in reports if r.categorical is not None}
        h0 = hists[0]
        plans.append(
            (
                owner,
                png_path(out, stem, f"probabilities_{h0.block}"),
                lambda: probability_histogram_figure(h0.edges, counts, block=h0.block, split=h0.split),
            )
        )
    histories = {r.name: r.curves.columns for r in reports if r.curves is not None and r.curves.n_epochs > 0}
    if has_curves(histories):
        targets = {r.name: r.curves.meta.get("mi_target", "") for r in reports if r.curves is not None}
        plans.append(
            (owner, png_path(out, stem, "training"), lambda: training_curves_figure(histories, targets=targets))
        )
    if len(reports) > 1:
        rows = [row for row in compare(reports).rows if row.key.startswith("mi:")]
        if rows:
            models = [r.name for r in reports]
            plans.append(
                (
                    None,
                    png_path(out, COMPARISON, "mi"),
                    lambda: mi_comparison_figure(
                        [row.label for row in rows],
                        np.array([row.values for row in rows]),
                        np.array([row.stderr for row in rows]),
                        models,
                        ceilings=[log_k_ceiling(reports, row.key) for row in rows],
                    ),
                )
            )
    return plans


def write_pngs(reports: list[Report], out: Path, force: bool = False) -> list[Path]:
    """Draw and write every figure into `out`; a model's figures are recorded in its `png` map
    (figure name -> path), the comparison's only in the returned list."""
    written: list[Path] = []
    for owner, path, build in report_figures(reports, out):
        saved = save_figure(build(), path, force=force)
        written.append(saved)
        for r in reports:
            if r.name == owner:
                r.png[path.stem.removeprefix(f"{r.name}-")] = str(saved)
    return written
