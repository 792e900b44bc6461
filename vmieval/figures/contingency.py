"""Which categories each label's images go to (paper Figs 9/10), from the contingency table.

One panel per label (digit), one bar per category: the fraction of that label's images whose most
probable category is k (`cluster/contingency` [L, K], `cluster/contingency_labels` [L]). A block
that learned the classes shows one tall bar per panel, a different one in each; a block the
decoder ignores shows the same flat or arbitrary pattern in every panel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures.canvas import FONT_SIZE, outer_ticks, panel_figure, panel_title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANEL_W, PANEL_H = 150, 120
PANELS_PER_ROW = 5


def contingency_figure(
    counts: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    *,
    model: str,
    block: str = "c",
    split: str = "",
    label_name: str = "digit",
) -> Figure:
    """Bars of `counts` [L, K] row by row (each row normalised by its total, shown as n)."""
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] != len(labels):
        raise ValueError(f"counts {table.shape} do not match {len(labels)} labels")
    n_labels, k = table.shape
    per_row = min(PANELS_PER_ROW, n_labels)
    fig, axes = panel_figure(n_labels, per_row, (PANEL_W, PANEL_H), (72, 16, 56, 56), (22, 40))
    categories = np.arange(k)
    for i, ax in enumerate(axes):
        n = table[i].sum()
        share = table[i] / n if n > 0 else np.zeros(k)
        colours = ["C0"] * k
        if n > 0:
            colours[int(np.argmax(share))] = "C3"
        ax.bar(categories, share, color=colours, width=0.8)
        ax.set_xlim(-0.6, k - 0.4)
        ax.set_ylim(0.0, 1.0)
        panel_title(ax, f"{label_name} {int(labels[i])} (n={int(n)})")
    shown = categories if k <= 10 else categories[:: math.ceil(k / 10)]
    shares = [0.0, 0.25, 0.5, 0.75, 1.0]
    x_ticks, y_ticks = (shown, [str(c) for c in shown]), (shares, [f"{v:.2f}" for v in shares])
    outer_ticks(axes, per_row, x_ticks, y_ticks, xlabel=f"category of {block}")
    fig.supylabel(f"share of the {label_name}'s images", fontsize=FONT_SIZE, x=8 / fig.bbox.width, ha="left")
    on = f" on the {split} split" if split else ""
    fig.suptitle(
        f"{model}: where each {label_name}'s images go in {block}{on} (argmax q({block}|x); red: most frequent)",
        fontsize=FONT_SIZE + 1,
    )
    return fig
