"""What every figure shares: a fixed pixel size, one colour per model, and the atomic PNG write.

Figures are sized in pixels at a fixed DPI and saved without `bbox_inches="tight"`, so a PNG is
exactly the size its builder asked for (tests check it) and traversal cells are drawn at an
integer scale, pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vmieval.atomic import atomic_write

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

DPI = 100
FONT_SIZE = 9
INPUT_COLOUR = "tab:orange"


def new_figure(width_px: int, height_px: int, constrained: bool = True) -> Figure:
    """A figure of `width_px` x `height_px` pixels on an Agg canvas (no pyplot, no global state).
    `constrained` lets matplotlib place the axes; traversal grids place theirs by hand."""
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
) -> tuple[Figure, np.ndarray]:
    """`n` small panels sharing both axes, `per_row` to a row, each `panel_px` (w, h) pixels, with
    fixed margins (left, right, top, bottom) and gaps (between columns, rows). Laid out by hand:
    constrained layout re-ticks every shared panel on each of its passes (seconds per figure)."""
    rows = math.ceil(n / per_row)
    (pw, ph), (left, right, top, bottom), (gw, gh) = panel_px, margins_px, gaps_px
    width = left + right + per_row * pw + (per_row - 1) * gw
    height = top + bottom + rows * ph + (rows - 1) * gh
    fig = new_figure(width, height, constrained=False)
    box = {"left": left / width, "right": 1 - right / width, "top": 1 - top / height, "bottom": bottom / height}
    axes = fig.subplots(
        rows, per_row, sharex=True, sharey=True, squeeze=False, gridspec_kw=box | {"wspace": gw / pw, "hspace": gh / ph}
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def model_colours(models: Sequence[str]) -> dict[str, str]:
    """The same colour for the same position in every figure (A blue, B orange, ...)."""
    return {m: f"C{i % 10}" for i, m in enumerate(models)}


def figure_size(fig: Figure) -> tuple[int, int]:
    """(width, height) in pixels of the PNG `save_figure` will write."""
    w, h = fig.get_size_inches()
    return round(w * DPI), round(h * DPI)


def save_figure(fig: Figure, path: str | Path, force: bool = False) -> Path:
    """Write `fig` as a PNG at `path` (temporary file in the same folder, then a rename); an
    existing file is an OutputError unless `force`."""

    def write(tmp: Path) -> None:
        # The format is explicit: the temporary name ends in .tmp. No "Software" stamp, so the
        # bytes depend on the data and matplotlib's drawing only.
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})

    return atomic_write(path, write, force=force)
