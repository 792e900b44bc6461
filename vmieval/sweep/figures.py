"""A sweep's figures, drawn from the merged table (never from the models): a metric against a hyper-parameter,
and the rate plane.

`metric_figure`: one point per model at (x, metric) with a ±1 standard error bar, the seeds of one x drawn side
by side (a small offset) and joined by their mean, one line per value of `series` (e.g. the entropy mode of a
λ sweep, the paper's Fig 3). `rate_plane`: each model at (KL upper bound on I_q(x; t), decoder-side lower bound
on I(t; x_hat)), with the diagonal: a model below it holds information its decoder does not show.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vmieval.errors import UsageError
from vmieval.figures.canvas import model_colours, new_figure, save_figure
from vmieval.sweep.table import STDERR, SweepTable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SEED_COLUMNS = ("seed", "hp:seed")


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def default_metric(table: SweepTable) -> str | None:
    """The valid decoder-side Barber-Agakov bound (the paper's quantity), else the first metric."""
    for m in table.metrics:
        parts = m.split("|")
        if m.startswith("mi:I(t;x_hat)|") and "barber-agakov" in parts and parts[-1] != "paper":
            return m
    return table.metrics[0] if table.metrics else None


def varying_hyperparameter(table: SweepTable) -> str | None:
    """The first numeric hyper-parameter (not the seed) that takes more than one value."""
    for h in table.hyper:
        values = {v for v in (_num(x) for x in table.column(h)) if not math.isnan(v)}
        if h not in SEED_COLUMNS and table.is_numeric(h) and len(values) > 1:
            return h
    return None


def find_column(table: SweepTable, text: str, kinds: tuple[str, ...] = ()) -> str:
    """A column by exact name, else the one metric whose name or label contains `text`."""
    if text in table.columns:
        return text
    hits = [m for m in table.metrics if text in m or text in table.labels.get(m, "")]
    if len(hits) == 1:
        return hits[0]
    shown = ", ".join(hits[:5] or table.metrics[:8])
    raise UsageError(f"{text!r} names {'several' if hits else 'no'} column{'s' if hits else ''}: {shown}")


def metric_figure(table: SweepTable, metric: str, x: str, series: str | None = None) -> Figure:
    """`metric` ± stderr against hyper-parameter `x`; seeds side by side, their mean joined per `series`."""
    seed = next((c for c in SEED_COLUMNS if c in table.hyper), None)
    rows = [r for r in table.rows if r["status"] == "done" and not math.isnan(_num(r.get(x)))]
    if not rows:
        raise UsageError(f"no finished model has a numeric {x!r} to plot against")
    groups = sorted({str(r.get(series, "")) for r in rows}) if series else [""]
    fig = new_figure(640, 420)
    ax = fig.add_subplot(1, 1, 1)
    xs_all = sorted({_num(r[x]) for r in rows})
    positive = [v for v in xs_all if v > 0]
    log = len(positive) > 2 and min(xs_all) >= 0 and positive[-1] / positive[0] >= 20  # lambda 0, 0.5, ..., 20
    for group, colour in model_colours(groups).items():
        mine = [r for r in rows if not series or str(r.get(series, "")) == group]
        seeds = sorted({str(r.get(seed, "")) for r in mine}) if seed else [""]
        for r in mine:
            shift = (seeds.index(str(r.get(seed, ""))) - (len(seeds) - 1) / 2) * 0.02 if seed else 0.0
            span = xs_all[-1] - xs_all[0] or 1
            xv = _num(r[x]) * 10**shift if log else _num(r[x]) + shift * span
            err = _num(r.get(metric + STDERR))
            ax.errorbar(xv, _num(r.get(metric)), yerr=None if math.isnan(err) else err, fmt="o", ms=4,
                        color=colour, alpha=0.8, capsize=2, label=None)  # fmt: skip
        xs = sorted({_num(r[x]) for r in mine})
        means = [np.nanmean([_num(r.get(metric)) for r in mine if _num(r[x]) == v]) for v in xs]
        ax.plot(xs, means, "-", color=colour, label=f"{series}={group}" if series else "mean over seeds")
    if log:
        ax.set_xscale("symlog", linthresh=positive[0]) if xs_all[0] == 0 else ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(table.labels.get(metric, metric))
    n_seeds = len({str(r.get(seed, "")) for r in rows}) if seed else 1
    ax.set_title(f"{len(rows)} models, {n_seeds} seed{'s' * (n_seeds != 1)}; bars: ±1 standard error")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def rate_columns(table: SweepTable) -> tuple[str, str] | None:
    """(KL upper bound, valid decoder-side Barber-Agakov bound) columns for the first target having both."""
    for upper in table.metrics:
        if upper.startswith("mi:I_q(x;t)|") and "|upper_bound|kl|" in upper:
            target = upper.split("|")[1]
            lower = [m for m in table.metrics if m.startswith(f"mi:I(t;x_hat)|{target}|lower_bound|barber-agakov|")]
            valid = [m for m in lower if not m.endswith("|paper")]
            if valid:
                return upper, valid[0]
    return None


def rate_plane(table: SweepTable) -> Figure:
    columns = rate_columns(table)
    if columns is None:
        raise UsageError("the rate plane needs a KL upper bound and a decoder-side bound on the same target")
    upper, lower = columns
    rows = [r for r in table.rows if r["status"] == "done"]
    fig = new_figure(520, 480)
    ax = fig.add_subplot(1, 1, 1)
    xs, ys = [_num(r.get(upper)) for r in rows], [_num(r.get(lower)) for r in rows]
    ax.errorbar(xs, ys, xerr=[_num(r.get(upper + STDERR)) for r in rows],
                yerr=[_num(r.get(lower + STDERR)) for r in rows], fmt="o", ms=4, capsize=2)  # fmt: skip
    if len(rows) <= 24:
        for r, xv, yv in zip(rows, xs, ys, strict=True):
            ax.annotate(str(r["model"]), (xv, yv), fontsize=6, xytext=(3, 3), textcoords="offset points")
    top = np.nanmax([*xs, *ys, 1e-3])
    ax.plot([0, top], [0, top], ":", color="grey", label="decoder bound = KL bound")
    ax.set_xlabel(f"{table.labels.get(upper, upper)} (nats)")
    ax.set_ylabel(f"{table.labels.get(lower, lower)} (nats)")
    ax.set_title("rate plane: one point per model, ±1 standard error")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def write_figures(
    table: SweepTable, folder: str | Path, metric: str | None, x: str | None, series: str | None
) -> list[Path]:
    """`metric-vs-<x>.png` (when a numeric hyper-parameter varies) and `rate-plane.png` (when it applies);
    a figure of an earlier run that this table does not draw is removed, so none outlives its numbers."""
    import matplotlib.pyplot as plt

    out: list[Path] = []
    Path(folder).mkdir(parents=True, exist_ok=True)
    metric = find_column(table, metric) if metric else default_metric(table)
    x = x or varying_hyperparameter(table)
    if metric and x and any(r["status"] == "done" for r in table.rows):
        fig = metric_figure(table, metric, x, series)
        out.append(save_figure(fig, Path(folder) / f"metric-vs-{x.replace(':', '_')}.png", force=True))
        plt.close(fig)
    if rate_columns(table) is not None and any(r["status"] == "done" for r in table.rows):
        fig = rate_plane(table)
        out.append(save_figure(fig, Path(folder) / "rate-plane.png", force=True))
        plt.close(fig)
    for old in [*Path(folder).glob("metric-vs-*.png"), Path(folder) / "rate-plane.png"]:
        if old not in out:
            old.unlink(missing_ok=True)
    return out
