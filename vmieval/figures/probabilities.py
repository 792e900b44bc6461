"""How sure the encoder is about each category (paper Fig 6): histograms of q(c=k|x) over a split.

One small panel per category k, one outline per model, drawn from the stored counts
(`histograms/edges` [bins + 1], `histograms/counts` [K, bins]). Per category rather than pooled:
pooled over k, an encoder that sends every image to one category (mass at 0 and 1) looks as
confident as one that separates the classes; per category, the collapse is one panel at 1 and
nine at 0. An encoder that ignores c piles every panel's mass at 1/K (dashed line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures.canvas import FONT_SIZE, model_colours, outer_ticks, panel_figure, panel_title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PANEL_W, PANEL_H = 150, 120
PANELS_PER_ROW = 5


def probability_histogram_figure(
    edges: np.ndarray,
    counts: Mapping[str, np.ndarray],
    *,
    block: str = "c",
    split: str = "",
) -> Figure:
    """Panels of the fraction of images per bin of q(block=k|x), k = 0..K-1.

    `edges` [bins + 1] over [0, 1]; `counts` maps a model name to its counts [K, bins] (rows sum
    to that model's N). Models must share K and the bins. The y axis is logarithmic: the
    interesting mass (near 1, or at 1/K) is often a few percent beside a tall bar at 0.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if not counts:
        raise ValueError("no histograms to draw")
    tables = {m: np.asarray(c, dtype=np.float64) for m, c in counts.items()}
    k, bins = next(iter(tables.values())).shape
    if edges.shape != (bins + 1,) or any(t.shape != (k, bins) for t in tables.values()):
        raise ValueError("every model needs counts [K, bins] over the same edges [bins + 1]")
    per_row = min(PANELS_PER_ROW, k)
    fig, axes = panel_figure(k, per_row, (PANEL_W, PANEL_H), gaps_px=(28, 44))
    colours = model_colours(list(tables))
    smallest = min(1.0 / max(t[0].sum(), 1.0) for t in tables.values())
    decades = range(math.floor(math.log10(smallest / 2)), 1)
    for i, ax in enumerate(axes):
        for model, table in tables.items():
            n = max(table[i].sum(), 1.0)
            ax.stairs(table[i] / n, edges, color=colours[model], linewidth=1.4, label=model)
        ax.axvline(1.0 / k, color="grey", linestyle="--", linewidth=0.8)
        ax.set_yscale("log")
        ax.minorticks_off()
        ax.set_ylim(smallest / 2, 1.5)
        ax.set_xlim(0.0, 1.0)
        panel_title(ax, f"{block} = {i}")
    y_ticks = ([10.0**e for e in decades], [f"$\\mathdefault{{10^{{{e}}}}}$" for e in decades])
    outer_ticks(axes, per_row, ([0.0, 0.5, 1.0], ["0", "0.5", "1"]), y_ticks, xlabel=f"q({block}=k|x)")
    fig.supylabel("fraction of images (log scale)", fontsize=FONT_SIZE, x=8 / fig.bbox.width, ha="left")
    on = f" on the {split} split" if split else ""
    fig.suptitle(
        f"{', '.join(tables)}: distribution of q({block}=k|x) for each category{on} (dashed: 1/K)",
        fontsize=FONT_SIZE + 1,
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=len(labels), fontsize=FONT_SIZE, frameon=False)
    return fig
