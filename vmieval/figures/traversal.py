"""A traversal grid a person can read without the HDF5 beside it (paper Figs 2-5).

The grid's pixels are drawn exactly as stored (`traversals/<grid>`, made by torchvision's
`make_grid`), enlarged by an integer factor so every cell stays sharp, and framed by what a reader
needs: the model's name and what is swept in the title, the swept values under the columns
(c = 0..9, or z from -3 to 3), the rows' values or image numbers at the left, and, in a separate
framed column, the input images the codes were encoded from.

The pixels go on the figure with `Figure.figimage` (matplotlib's non-resampled image, placed at a
pixel offset), not in an Axes: an Axes would resample them and build tick machinery for labels
whose positions are already known (the cells' centres), which made a grid cost twice as much to
draw. The labels are figure texts at those centres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vmieval.figures.canvas import FONT_SIZE, INPUT_COLOUR, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIN_CELL_PX = 48  # cells smaller than this are enlarged (28 px MNIST digits are drawn at 56 px)
MAX_GRID_PX = 1400  # ...unless the grid would become wider than a screen
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 58, 52  # margins in pixels: tick labels, title, axis label
GAP_PLAIN, GAP_TICKS = 20, 64  # between the input column and the grid (room for the grid's own row labels)
LABEL_PAD, AXIS_LABEL_PAD = 5, 24  # pixels from an image's edge to its value labels and to its axis label


def cell_size(extent: int, cells: int, padding: int) -> int:
    """The side of one cell in a `make_grid` image `extent` pixels long holding `cells` cells."""
    side, rest = divmod(extent - padding, cells)
    if cells < 1 or rest or side <= padding:
        raise ValueError(f"{extent} pixels do not hold {cells} cells with padding {padding}")
    return side - padding


def cell_centres(cells: int, side: int, padding: int) -> np.ndarray:
    """Pixel coordinate of the centre of each cell along one axis [cells] (pixel i spans [i, i + 1))."""
    return padding + np.arange(cells) * (side + padding) + side / 2


def value_labels(values: Sequence[float] | np.ndarray) -> list[str]:
    """Tick labels: integers as integers (categories), other values in short form (-2.25)."""
    vals = np.asarray(values, dtype=np.float64)
    if np.all(np.isfinite(vals)) and np.all(vals == np.round(vals)):
        return [str(int(v)) for v in vals]
    return [f"{v:g}".replace("-", "\N{MINUS SIGN}") for v in vals]


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    """[H, W], [H, W, 1] or [H, W, 3] uint8 as [H, W, 3] (greyscale repeated)."""
    p = np.asarray(pixels)
    if p.ndim == 2:
        p = p[:, :, None]
    if p.ndim != 3 or p.shape[2] not in (1, 3):
        raise ValueError(f"grid pixels must be [H, W], [H, W, 1] or [H, W, 3], got {p.shape}")
    return np.repeat(p, 3, axis=2) if p.shape[2] == 1 else p


def _enlarged(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Every pixel as a `scale` x `scale` block (nearest neighbour, so cells stay sharp)."""
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def input_column(inputs: np.ndarray, padding: int, recons: np.ndarray | None = None) -> np.ndarray:
    """The input images [S, C, h, w] (floats in [0, 1] or uint8) as a one-column grid uint8
    [H, W, 3], laid out like the traversal grid so rows line up; with `recons` [S, C, h, w], each
    input's reconstruction beside it (two columns)."""
    import torch
    from torchvision.utils import make_grid

    def unit(a: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(a))
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float().clamp(0.0, 1.0)

    x = unit(inputs)
    if recons is not None:
        x = torch.stack([x, unit(recons)], dim=1).flatten(0, 1)  # input, recon, input, recon, ...
    grid = make_grid(x, nrow=1 if recons is None else 2, padding=padding, pad_value=1.0)
    return grid.mul(255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def traversal_figure(
    pixels: np.ndarray,
    n_rows: int,
    n_cols: int,
    values: Sequence[float] | np.ndarray,
    *,
    model: str,
    title: str,
    col_label: str,
    row_label: str = "image",
    row_values: Sequence[float] | np.ndarray | None = None,
    row_names: Sequence[str] | None = None,
    inputs: np.ndarray | None = None,
    padding: int = 2,
    recons: np.ndarray | None = None,
) -> Figure:
    """The grid `pixels` (uint8 [H, W, 3] or [H, W], `n_rows` x `n_cols` cells of a `make_grid`
    with `padding`) with `values` [n_cols] under its columns.

    Rows are labelled with `row_values` [n_rows] (a swept dim, Fig 2) or `row_names` [n_rows]
    (e.g. the image numbers, one sample per row). `inputs` [S, C, h, w] are the images the codes
    came from (S = n_rows, or 1 for a grid that starts from one image): drawn as a framed column
    to the left of the grid, its rows level with the grid's; `recons` (same shape) are their
    reconstructions, drawn beside them in the same frame.
    """
    from matplotlib.patches import Rectangle

    pixels = _as_rgb(pixels)
    height, width = pixels.shape[:2]
    cell_h, cell_w = cell_size(height, n_rows, padding), cell_size(width, n_cols, padding)
    if len(values) != n_cols:
        raise ValueError(f"{len(values)} column values for {n_cols} columns")
    scale = max(1, math.ceil(MIN_CELL_PX / max(min(cell_h, cell_w), 1)))
    while scale > 1 and width * scale > MAX_GRID_PX:
        scale -= 1

    column = input_column(inputs, padding, recons) if inputs is not None else None
    grid_ticks = row_values is not None or column is None
    gap = GAP_TICKS if grid_ticks else GAP_PLAIN
    in_w = column.shape[1] * scale + gap if column is not None else 0
    grid_w, grid_h = width * scale, height * scale
    fig_w, fig_h = LEFT + in_w + grid_w + RIGHT, TOP + grid_h + BOTTOM
    fig = new_figure(fig_w, fig_h, constrained=False)

    def text(x: float, y: float, s: str, **kwargs: object) -> None:  # x, y in pixels from the bottom left
        fig.text(x / fig_w, y / fig_h, s, **kwargs)

    def frame(x: float, y: float, w: float, h: float, colour: str, linewidth: float) -> None:
        fig.add_artist(
            Rectangle((x / fig_w, y / fig_h), w / fig_w, h / fig_h, transform=fig.transFigure, fill=False,
                      edgecolor=colour, linewidth=linewidth)
        )  # fmt: skip

    grid_x = LEFT + in_w
    fig.figimage(_enlarged(pixels, scale), grid_x, BOTTOM, origin="upper")
    frame(grid_x, BOTTOM, grid_w, grid_h, "black", 0.8)
    small = {"fontsize": FONT_SIZE - 1}
    for x, label in zip(cell_centres(n_cols, cell_w, padding), value_labels(values), strict=True):
        text(grid_x + x * scale, BOTTOM - LABEL_PAD, label, ha="center", va="top", **small)
    text(grid_x + grid_w / 2, BOTTOM - AXIS_LABEL_PAD, col_label, ha="center", va="top", fontsize=FONT_SIZE)

    # Row labels go left of the grid (a swept dim, or no input column), else left of the input column.
    labelled_x, labelled_h = grid_x, grid_h
    if column is not None:
        col_w, col_h = column.shape[1] * scale, column.shape[0] * scale
        col_y = BOTTOM + grid_h - col_h  # level with the grid's top row
        fig.figimage(_enlarged(column, scale), LEFT, col_y, origin="upper")
        frame(LEFT, col_y, col_w, col_h, INPUT_COLOUR, 2.5)
        under = "input | recon" if recons is not None else "input"
        text(LEFT + col_w / 2, col_y - LABEL_PAD, under, ha="center", va="top", fontsize=FONT_SIZE,
             color=INPUT_COLOUR, fontweight="bold")  # fmt: skip
        if not grid_ticks:
            labelled_x, labelled_h = LEFT, col_h
    row_y = BOTTOM + grid_h - cell_centres(n_rows, cell_h, padding) * scale
    row_text = value_labels(row_values) if row_values is not None else [str(n) for n in (row_names or range(n_rows))]
    shown = n_rows if labelled_x == grid_x else len(inputs)  # the input column has a row per image
    for y, label in zip(row_y[:shown], row_text[:shown], strict=True):
        text(labelled_x - LABEL_PAD, y, label, ha="right", va="center", **small)
    text(labelled_x - GAP_TICKS + 4, BOTTOM + grid_h - labelled_h / 2, row_label, ha="left", va="center",
         rotation=90, fontsize=FONT_SIZE)  # fmt: skip

    text(8, fig_h - 8, model, ha="left", va="top", fontsize=FONT_SIZE + 2, fontweight="bold")
    text(8, fig_h - 30, title, ha="left", va="top", fontsize=FONT_SIZE, wrap=True)
    return fig
