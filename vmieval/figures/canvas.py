"""What every figure shares: a fixed pixel size, one colour per model, and the atomic PNG write.

Figures are sized in pixels at a fixed DPI and saved without `bbox_inches="tight"`, so a PNG is
exactly the size its builder asked for (tests check it) and traversal cells are drawn at an
integer scale, pixel for pixel. Panel figures are placed by hand with ticks on their outer edges
only: matplotlib's cost is per artist (each Axes, each tick), and a report draws 17 figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vmieval.outputs import atomic_write

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
FONT_SIZE = 9
INPUT_COLOUR = "tab:orange"


def new_figure(width_px: int, height_px: int, constrained: bool = True) -> Figure:
    """A figure of `width_px` x `height_px` pixels on an Agg canvas (no pyplot, no global state).
    `constrained` lets matplotlib place the axes (it draws the figure again to measure); panel
    figures and traversal grids place theirs by hand."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def panel_figure(
    n: int,
    per_row: int,
    panel_px: tuple[int, int],
    margins_px: tuple[int, int, int, int] = (72, 16, 56, 84),
    gaps_px: tuple[int, int] = (22, 44),
) -> tuple[Figure, list[Axes]]:
    """`n` small panels [n], `per_row` to a row (left to right, top to bottom), each `panel_px`
    (w, h) pixels, with fixed margins (left, right, top, bottom) and gaps (between columns, rows).
    Placed by hand and not shared: the builder gives every panel the same limits and calls
    `outer_ticks`, so no layout engine re-ticks a panel."""
    rows = math.ceil(n / per_row)
    (pw, ph), (left, right, top, bottom), (gw, gh) = panel_px, margins_px, gaps_px
    width = left + right + per_row * pw + (per_row - 1) * gw
    height = top + bottom + rows * ph + (rows - 1) * gh
    fig = new_figure(width, height, constrained=False)
    axes = []
    for i in range(n):
        row, col = divmod(i, per_row)
        x0, y0 = left + col * (pw + gw), height - top - (row + 1) * ph - row * gh
        axes.append(fig.add_axes((x0 / width, y0 / height, pw / width, ph / height)))
    return fig, axes


def outer_ticks(
    axes: Sequence[Axes],
    per_row: int,
    x: tuple[Sequence[float], Sequence[str]],
    y: tuple[Sequence[float], Sequence[str]],
    xlabel: str = "",
) -> None:
    """Ticks (positions, labels) `x` and `xlabel` under the bottom panel of each column, `y` left
    of the first panel of each row; the panels between, on the same limits, show none. Every tick
    is an artist with its own texts and lines to lay out and draw: unlabelled ones cost as much."""
    n = len(axes)
    for i, ax in enumerate(axes):
        bottom, first = i + per_row >= n, i % per_row == 0
        ax.set_xticks(x[0] if bottom else [], x[1] if bottom else [])
        ax.set_yticks(y[0] if first else [], y[1] if first else [])
        ax.tick_params(labelsize=FONT_SIZE - 1)
        if bottom and xlabel:
            ax.set_xlabel(xlabel, fontsize=FONT_SIZE)


def panel_title(ax: Axes, text: str) -> None:
    """A panel's title at a fixed height: an automatic one measures every Axes above it on each draw."""
    ax.set_title(text, fontsize=FONT_SIZE, y=1.0)


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """The same colour for the same position in every figure (A blue, B orange, ...)."""
    return {m: f"C{i % 10}" for i, m in enumerate(models)}


def save_figure(fig: Figure, path: str | Path, force: bool = False) -> Path:
    """Write `fig` as a PNG at `path` (temporary file in the same folder, then a rename); an
    existing file is an OutputError unless `force`."""

    def write(tmp: Path) -> None:
        # The format is explicit: the temporary name ends in .tmp. No "Software" stamp, so the
        # bytes depend on the data and matplotlib's drawing only.
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})

    return atomic_write(path, write, force=force)
