"""Figures: each builder draws plain arrays into a PNG of the size it promises, with the title,
axis labels and tick values a reader needs, and the write is atomic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.text import Text
from PIL import Image
from torchvision.utils import make_grid

from vmieval.errors import OutputError
from vmieval.figures import (
    contingency_figure,
    has_curves,
    mi_comparison_figure,
    probability_histogram_figure,
    save_figure,
    training_curves_figure,
    traversal_figure,
)
from vmieval.figures.canvas import DPI
from vmieval.figures.traversal import MIN_CELL_PX, cell_centres, cell_size, value_labels


def texts(fig) -> list[str]:
    """Every non-empty string drawn on the figure (titles, axis labels, tick labels, legends)."""
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def saved(fig, path: Path) -> Image.Image:
    """Save, check the PNG is valid and exactly the figure's promised size, return it."""
    save_figure(fig, path)
    image = Image.open(path)
    image.verify()
    image = Image.open(path)
    assert image.format == "PNG"
    w, h = fig.get_size_inches()
    assert image.size == (round(w * DPI), round(h * DPI))
    return image


def grid_pixels(rows: int, cols: int, channels: int = 1, side: int = 28, pad: int = 2) -> np.ndarray:
    """A make_grid image of random cells, uint8 [H, W, 3], as the report stores it."""
    cells = torch.rand(rows * cols, channels, side, side, generator=torch.Generator().manual_seed(0))
    return make_grid(cells, nrow=cols, padding=pad, pad_value=1.0).mul(255).byte().permute(1, 2, 0).numpy()


# -- traversal grids ---------------------------------------------------------------------------


def test_cell_geometry_matches_make_grid() -> None:
    pixels = grid_pixels(3, 10)
    assert cell_size(pixels.shape[0], 3, 2) == 28 and cell_size(pixels.shape[1], 10, 2) == 28
    np.testing.assert_allclose(cell_centres(2, 28, 2), [2 + 14, 32 + 14])  # pixel i spans [i, i + 1)
    with pytest.raises(ValueError, match="do not hold"):
        cell_size(pixels.shape[1], 9, 2)


def test_value_labels() -> None:
    assert value_labels(np.arange(10.0)) == [str(i) for i in range(10)]
    assert value_labels(np.linspace(-3, 3, 5)) == ["\N{MINUS SIGN}3", "\N{MINUS SIGN}1.5", "0", "1.5", "3"]


def placed(fig, strings: list[str]) -> np.ndarray:
    """Pixel positions (x, y from the bottom left) [len(strings), 2] of the figure texts `strings`."""
    where = {t.get_text(): fig.transFigure.transform(t.get_position()) for t in fig.texts}
    return np.array([where[s] for s in strings])


def image_box(image) -> tuple[int, int, int, int]:
    """(left, bottom, width, height) in pixels of a `figimage`."""
    h, w = image.get_array().shape[:2]
    return image.ox, image.oy, w, h


def test_category_grid_labelled_with_inputs(tmp_path: Path) -> None:
    pixels = grid_pixels(3, 10)
    inputs = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1)).numpy()
    fig = traversal_figure(
        pixels,
        3,
        10,
        np.arange(10),
        model="model-a",
        title="every category of c (columns)",
        col_label="c = 0..9",
        row_label="test image",
        row_names=["#4", "#8", "#15"],
        inputs=inputs,
    )
    shown = texts(fig)
    for expected in ("model-a", "every category of c (columns)", "c = 0..9", "test image", "input", "#8", "9"):
        assert expected in shown
    grid, column = fig.images
    gx, gy, gw, gh = image_box(grid)
    cx, cy, cw, ch = image_box(column)
    scale = gw // pixels.shape[1]
    assert scale > 1 and (gw, gh) == (pixels.shape[1] * scale, pixels.shape[0] * scale)
    assert cx + cw < gx and (cy + ch, ch) == (gy + gh, gh)  # left of the grid, as tall: rows line up
    # Each column's value is centred under its cells, each image number level with its row.
    columns = placed(fig, [str(k) for k in range(10)])
    np.testing.assert_allclose(columns[:, 0], gx + cell_centres(10, 28, 2) * scale)
    assert np.all(columns[:, 1] < gy)
    rows = placed(fig, ["#4", "#8", "#15"])
    np.testing.assert_allclose(rows[:, 1], gy + gh - cell_centres(3, 28, 2) * scale)
    assert np.all(rows[:, 0] <= cx)
    image = np.asarray(saved(fig, tmp_path / "cats.png").convert("RGB"))
    assert image.shape[1] >= 11 * MIN_CELL_PX  # cells are enlarged, not shrunk
    # The PNG holds the stored pixels exactly, each enlarged to a scale x scale block (inside the frame).
    top = image.shape[0] - gy - gh
    drawn = image[top + scale : top + gh - scale, gx + scale : gx + gw - scale]
    expected = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)[scale:-scale, scale:-scale]
    np.testing.assert_array_equal(drawn, expected)


def test_pair_grid_rgb_rows_and_columns_swept(tmp_path: Path) -> None:
    values = np.linspace(-3, 3, 5)
    fig = traversal_figure(
        grid_pixels(5, 5, channels=3, side=32),
        5,
        5,
        values,
        model="rgb-model",
        title="z[0] (rows) x z[3] (columns)",
        col_label="z[3] from -3 to 3",
        row_label="z[0] from -3 to 3",
        row_values=values,
        inputs=np.zeros((1, 3, 32, 32), dtype=np.uint8),
    )
    shown = texts(fig)
    assert {"z[3] from -3 to 3", "z[0] from -3 to 3", "input"} <= set(shown)
    assert shown.count(value_labels(values)[0]) == 2  # under the first column and beside the first row
    grid, column = fig.images
    gx, gy, _, gh = image_box(grid)
    cx, cy, cw, ch = image_box(column)
    assert ch < gh / 4 and cy + ch == gy + gh  # one input image, level with the top row
    rows = placed(fig, ["z[0] from -3 to 3"])
    assert cx + cw < rows[0, 0] < gx  # the swept dim labels the grid's rows, between input and grid
    saved(fig, tmp_path / "pair.png")


def test_greyscale_grid_without_inputs(tmp_path: Path) -> None:
    pixels = grid_pixels(2, 4)[:, :, 0]  # [H, W]
    fig = traversal_figure(pixels, 2, 4, [0, 1, 2, 3], model="m", title="t", col_label="c")
    assert len(fig.images) == 1 and drawn_twice(texts(fig), ["0", "1", "2", "3"]) == ["0", "1"]
    image = saved(fig, tmp_path / "grey.png")
    assert image.mode in ("RGB", "RGBA")
    with pytest.raises(ValueError, match="column values"):
        traversal_figure(pixels, 2, 4, [0, 1, 2], model="m", title="t", col_label="c")


def drawn_twice(shown: list[str], labels: list[str]) -> list[str]:
    """The labels drawn twice (once under a column and once beside a row)."""
    return [s for s in labels if shown.count(s) == 2]


# -- histograms, contingency, curves, comparison -------------------------------------------------


def test_probability_histograms(tmp_path: Path) -> None:
    edges = np.linspace(0, 1, 21)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 50, size=(10, 20))
    b = rng.integers(0, 50, size=(10, 20))
    fig = probability_histogram_figure(edges, {"elbo": a, "mi": b}, block="c", split="test")
    shown = texts(fig)
    assert any("elbo, mi" in t and "test split" in t for t in shown)
    assert {"c = 0", "c = 9", "elbo", "mi", "q(c=k|x)"} <= set(shown)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 10 and all(ax.get_yscale() == "log" for ax in panels)
    # Each outline is that category's fractions (rows of the counts, normalised).
    heights = panels[3].patches[0].get_data().values
    np.testing.assert_allclose(heights, a[3] / a[3].sum())
    saved(fig, tmp_path / "probs.png")
    with pytest.raises(ValueError, match="same edges"):
        probability_histogram_figure(edges[:-1], {"elbo": a})


def test_contingency_bars(tmp_path: Path) -> None:
    counts = np.diag([5, 6, 7]) + 1  # [L=3, K=3]
    fig = contingency_figure(counts, [0, 1, 2], model="mi-model", split="test")
    shown = texts(fig)
    assert any(t.startswith("mi-model:") for t in shown)
    assert {"digit 0 (n=8)", "digit 2 (n=10)", "category of c"} <= set(shown)
    heights = [p.get_height() for p in fig.axes[1].patches]
    np.testing.assert_allclose(heights, counts[1] / counts[1].sum())
    saved(fig, tmp_path / "cont.png")
    with pytest.raises(ValueError, match="labels"):
        contingency_figure(counts, [0, 1], model="m")


def test_panels_tick_only_their_outer_edges() -> None:
    """Seven panels, five to a row: x ticks under the lowest panel of each column (the last three
    of the top row have none below them), y ticks on the first panel of each row, none between."""
    fig = contingency_figure(np.ones((7, 4)), list(range(7)), model="m")
    ticked_x = [i for i, ax in enumerate(fig.axes) if [t.get_text() for t in ax.get_xticklabels()] == list("0123")]
    ticked_y = [i for i, ax in enumerate(fig.axes) if len(ax.get_yticks())]
    assert ticked_x == [2, 3, 4, 5, 6] and ticked_y == [0, 5]
    assert all(not len(fig.axes[i].get_xticks()) for i in (0, 1))
    assert [fig.axes[i].get_xlabel() for i in (1, 2)] == ["", "category of c"]
    assert len({ax.get_ylim() for ax in fig.axes}) == 1  # one scale for every panel


def test_training_curves(tmp_path: Path) -> None:
    epochs = np.arange(1.0, 6.0)
    elbo = {"epoch": epochs, "kl.c": np.zeros(5), "kl.z": epochs, "mi_bound": np.zeros(5)}
    mi = {"epoch": epochs, "kl.c": epochs / 5, "kl.z": epochs, "mi_bound": epochs / 3, "iq_exact.c": epochs / 4}
    fig = training_curves_figure({"elbo": elbo, "mi": mi}, targets={"mi": "c"})
    shown = texts(fig)
    assert {"KL per latent block", "mutual information", "epoch", "nats"} <= set(shown)
    assert {"mi: KL(c)", "elbo: KL(z)", "mi: I(c; x_hat) >= trainer's Q bound", "mi: I_q(x; c), exact"} <= set(shown)
    assert "elbo: MI lower bound (trainer's Q, target unknown)" in shown
    kl_lines = fig.axes[0].get_lines()
    assert len(kl_lines) == 4
    np.testing.assert_allclose(kl_lines[2].get_ydata(), mi["kl.c"])
    saved(fig, tmp_path / "curves.png")


def test_training_curves_need_a_column() -> None:
    only_kl = {"m": {"epoch": np.arange(3.0), "kl.z": np.ones(3)}}
    assert has_curves(only_kl) and not has_curves({"m": {"epoch": np.arange(3.0), "elbo": np.ones(3)}})
    fig = training_curves_figure(only_kl)
    assert len(fig.axes) == 1  # no MI column: no empty MI panel
    with pytest.raises(ValueError, match="no KL or MI"):
        training_curves_figure({"m": {"elbo": np.ones(3)}})


def test_mi_comparison_bars(tmp_path: Path) -> None:
    labels = ["I_q(x; c) = exact", "I(c; x_hat) >= barber-agakov"]
    values = np.array([[0.01, 2.08], [np.nan, 2.2]])
    stderr = np.array([[0.001, 0.01], [np.nan, np.nan]])
    fig = mi_comparison_figure(labels, values, stderr, ["A", "B"])
    shown = texts(fig)
    assert {"MI estimates: A vs B", "A", "B", " n/a"} <= set(shown)
    assert any(t.startswith("nats") and "standard error" in t for t in shown)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    widths = sorted(p.get_width() for p in ax.patches)
    np.testing.assert_allclose(widths, [0.01, 2.08, 2.2])  # no bar for the missing value
    saved(fig, tmp_path / "mi.png")


def test_save_is_atomic_and_refuses_to_overwrite(tmp_path: Path) -> None:
    fig = contingency_figure(np.eye(2), [0, 1], model="m")
    path = save_figure(fig, tmp_path / "f.png")
    before = path.read_bytes()
    with pytest.raises(OutputError, match="--force"):
        save_figure(fig, path)
    assert path.read_bytes() == before
    save_figure(fig, path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]  # no temporary file left
    with pytest.raises(OutputError):
        save_figure(fig, tmp_path / "missing" / "f.png")
