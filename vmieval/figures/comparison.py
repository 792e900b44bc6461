"""The MI table of a comparison as grouped bars with error bars (`report --compare`).

Drawn from the comparison group (`comparison/label` [R], `values` and `stderr` [R, M]): one row
of bars per estimate, one bar per model, ±1 standard error, each bar with its value written beside it
(a near-zero bar is otherwise invisible). A value a model lacks (NaN) gets no bar and the text "n/a",
never a zero-length bar that would read as "no information". A row whose target is a categorical code
gets its ceiling log K (no MI about c exceeds H(c) <= log K) as a dashed mark.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures.canvas import FONT_SIZE, model_colours, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ROW_PX, BAR_PX = 28, 16  # height of one table row: its gap plus one bar per model
LABEL_WIDTH = 44  # characters per line of a row label


def mi_comparison_figure(
    labels: Sequence[str],
    values: np.ndarray,
    stderr: np.ndarray,
    models: Sequence[str],
    *,
    unit: str = "nats",
    title: str = "",
    ceilings: Sequence[float | None] | None = None,
) -> Figure:
    """Horizontal grouped bars: row r, model m at `values[r, m]` ± `stderr[r, m]` (NaN stderr: no
    error bar). Rows keep the table's order, top to bottom. `ceilings[r]`: row r's log K, or None."""
    vals = np.asarray(values, dtype=np.float64).reshape(len(labels), len(models))
    errs = np.asarray(stderr, dtype=np.float64).reshape(len(labels), len(models))
    if not len(labels):
        raise ValueError("no rows to draw")
    fig = new_figure(860, (ROW_PX + BAR_PX * len(models)) * len(labels) + 110)
    ax = fig.subplots()
    colours = model_colours(list(models))
    height = 0.8 / len(models)
    rows = np.arange(len(labels))
    for m, model in enumerate(models):
        y = rows - 0.4 + height * (m + 0.5)
        shown = np.isfinite(vals[:, m])
        xerr = np.where(np.isfinite(errs[:, m]), errs[:, m], 0.0)
        bars = ax.barh(y[shown], vals[shown, m], height=height, xerr=xerr[shown], color=colours[model], label=model,
                       capsize=3)  # fmt: skip
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in vals[shown, m]], fontsize=FONT_SIZE - 2, padding=4)
        for yi in y[~shown]:
            ax.text(0.0, yi, " n/a", va="center", fontsize=FONT_SIZE - 1, color=colours[model])
    _draw_ceilings(ax, ceilings or [None] * len(labels))
    ax.set_yticks(rows, ["\n".join(textwrap.wrap(t, LABEL_WIDTH)) for t in labels])
    ax.invert_yaxis()
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.margins(x=0.12)  # room for the value labels
    finite = vals[np.isfinite(vals)]
    if finite.size and math.isclose(float(finite.max()), float(finite.min())):
        ax.set_xlim(min(0.0, float(finite.min())) - 1.0, max(0.0, float(finite.max())) + 1.0)
    ax.set_xlabel(f"{unit} (error bars: ±1 standard error)", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(fontsize=FONT_SIZE, frameon=False, loc="outside lower center", ncols=len(models))
    fig.suptitle(title or f"MI estimates: {' vs '.join(models)}", fontsize=FONT_SIZE + 2)
    return fig


def _draw_ceilings(ax: object, ceilings: Sequence[float | None]) -> None:
    """A dashed mark at each row's log K, labelled once."""
    labelled = False
    for r, c in enumerate(ceilings):
        if c is None or not math.isfinite(c):
            continue
        label = None if labelled else "log K: the most any MI about a K-way code can be"
        ax.plot([c, c], [r - 0.45, r + 0.45], color="black", linestyle="--", linewidth=1.2, label=label)  # type: ignore[attr-defined]
        labelled = True
