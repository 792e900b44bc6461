"""Latent traversals: what the decoder draws when one part of an encoded code is changed.

Each grid starts from real images of the split, encoded and held fixed at their posterior means
(Gaussian blocks) and most probable category (categorical blocks); only the named part varies, so
any change across a row is the decoder's response to that part alone.
- `pair_<z>_<a>_<b>` (paper Fig 2): dims a (rows) and b (columns) of one Gaussian block swept
  together over [-span, span] for the first sample.
- `sweep_<z>_<d>` (paper Fig 3): dim d swept along each row, one row per sample.
- `categories_<c>` (paper Figs 4/5): every category swapped in (columns), one row per sample.
By default the swept dims are those with the largest mean KL over the split (read from the encoded
split): the dims the encoder uses, hence the ones worth looking at. Grids are built with
`torchvision.utils.make_grid` (imported when a grid is made: it pulls in all of torchvision) and
returned as uint8 [H, W, 3] arrays (the report's figures write them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vmieval.analysis.cluster import categorical_block_name
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError
from vmieval.frozen import FrozenVAE
from vmieval.spec import ModelSpec


@dataclass(frozen=True)
class TraversalConfig:
    """`samples`: rows of the sweep and category grids; `steps` values over [-span, span];
    `dims`: the Fig 2 pair (default: the two highest-KL dims); `sweep_dims`: how many dims get a
    Fig 3 grid; `sweep`: which ones (default: the highest-KL ones); `gaussian_block`/
    `categorical_block`: default the first of each kind."""

    samples: int = 8
    steps: int = 9
    span: float = 3.0
    dims: tuple[int, int] | None = None
    sweep_dims: int = 4
    sweep: tuple[int, ...] | None = None
    gaussian_block: str | None = None
    categorical_block: str | None = None
    padding: int = 2


@dataclass(frozen=True)
class Grid:
    """One traversal figure. `pixels` uint8 [H, W, 3]; `cells` float [rows, cols, C, h, w] in [0, 1]
    are the decoded images it was made of; `values` [cols] what the columns set the part to."""

    name: str
    title: str
    rows: str
    cols: str
    values: np.ndarray
    pixels: np.ndarray
    cells: np.ndarray


@dataclass(frozen=True)
class Traversals:
    """All grids of one model; `sample_indices` [S] are the images (of `split`) they start from and
    `inputs` float [S, C, h, w] in [0, 1] those images themselves (None when not kept); `dims` the
    Fig 2 pair and `sweep` the Fig 3 dims drawn (give them to another model's `TraversalConfig` to
    draw the same grids)."""

    split: str
    sample_indices: np.ndarray
    grids: tuple[Grid, ...]
    inputs: np.ndarray | None = None
    dims: tuple[int, int] | None = None
    sweep: tuple[int, ...] = ()
    recons: np.ndarray | None = None  # [S, C, h, w] in [0, 1]: each input decoded from its posterior mode

    def grid(self, name: str) -> Grid:
        for g in self.grids:
            if g.name == name:
                return g
        raise KeyError(name)


def _to_unit(model: FrozenVAE, images: torch.Tensor) -> torch.Tensor:
    lo, hi = model.spec.value_range
    return ((images.cpu() - lo) / (hi - lo)).clamp(0.0, 1.0)


def _decode_cells(model: FrozenVAE, codes: dict[str, torch.Tensor], cols: int) -> torch.Tensor:
    """Decode row-major codes (each block [rows * cols, width]) into cells [rows, cols, C, h, w]."""
    images = _to_unit(model, model.decode_mean(codes))
    return images.view(-1, cols, *images.shape[1:])


def _grid(name: str, title: str, axes: tuple[str, str], values: torch.Tensor, cells: torch.Tensor, pad: int) -> Grid:
    from torchvision.utils import make_grid

    n_rows, n_cols = cells.shape[:2]
    grid = make_grid(cells.reshape(n_rows * n_cols, *cells.shape[2:]), nrow=n_cols, padding=pad, pad_value=1.0)
    pixels = grid.mul(255.0).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Grid(name, title, axes[0], axes[1], values.double().numpy(), pixels, cells.numpy())


def _repeat_rows(base: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """The fixed codes of the given sample rows (a copy, safe to edit in place)."""
    return {name: code[rows].clone() for name, code in base.items()}


def check_traversal_config(spec: ModelSpec, config: TraversalConfig) -> None:
    """Refuse explicit grid dims that this model cannot sweep, before any work is done."""
    gaussians = spec.blocks_of_kind("gaussian")
    z = config.gaussian_block or (gaussians[0].name if gaussians else None)
    if z is None:
        return
    size = spec.block(z).size
    if config.sweep is not None and not all(0 <= d < size for d in config.sweep):
        raise UsageError(f"traversal sweep dims {list(config.sweep)} must be dims of {z} (0..{size - 1})")
    if config.dims is None:
        return
    a, b = config.dims
    if not (0 <= a < size and 0 <= b < size and a != b):
        raise UsageError(f"traversal dims ({a}, {b}) must be two different dims of {z} (0..{size - 1})")


def traversal_grids(
    model: FrozenVAE,
    split: EncodedSplit,
    generator: torch.Generator | None = None,
    config: TraversalConfig = TraversalConfig(),
) -> Traversals:
    """Every traversal figure the model's blocks allow, from `config.samples` images drawn from
    the split with `generator` (without replacement), held at their posterior modes."""
    n = split.n
    if config.samples < 1 or config.steps < 2:
        raise UsageError("traversals need at least one image, one sample and two steps")
    picked = torch.randperm(n, generator=generator)[: min(config.samples, n)]
    s = len(picked)
    base = split.subset(picked).mode()
    values = torch.linspace(-config.span, config.span, config.steps)
    steps = len(values)
    span = f"[-{config.span:g}, {config.span:g}]"
    grids: list[Grid] = []
    pair: tuple[int, int] | None = None
    swept: list[int] = []

    gaussians = model.spec.blocks_of_kind("gaussian")
    z = config.gaussian_block or (gaussians[0].name if gaussians else None)
    if z is not None:
        size = model.spec.block(z).size
        if model.spec.block(z).kind != "gaussian":
            raise UsageError(f"block {z!r} is categorical; traversals sweep a Gaussian block")
        ranked = dims_by_kl(split, z)
        swept = [int(d) for d in (config.sweep if config.sweep is not None else ranked[: config.sweep_dims])]
        if not all(0 <= d < size for d in swept):
            raise UsageError(f"traversal sweep dims {swept} must be dims of {z} (0..{size - 1})")
        if size >= 2:
            a, b = (int(d) for d in (config.dims if config.dims is not None else ranked[:2]))
            if not (0 <= a < size and 0 <= b < size and a != b):
                raise UsageError(f"traversal dims ({a}, {b}) must be two different dims of {z} (0..{size - 1})")
            pair = (a, b)
            codes = _repeat_rows(base, torch.zeros(steps * steps, dtype=torch.long))
            codes[z][:, a] = values.repeat_interleave(steps)
            codes[z][:, b] = values.repeat(steps)
            title = f"{z}[{a}] (rows) x {z}[{b}] (columns) over {span}"
            cells = _decode_cells(model, codes, steps)
            grids.append(_grid(f"pair_{z}_{a}_{b}", title, (f"{z}[{a}]", f"{z}[{b}]"), values, cells, config.padding))
        for d in swept:
            codes = _repeat_rows(base, torch.arange(s).repeat_interleave(steps))
            codes[z][:, d] = values.repeat(s)
            title = f"{z}[{d}] swept over {span}, one sample per row"
            cells = _decode_cells(model, codes, steps)
            grids.append(_grid(f"sweep_{z}_{d}", title, ("sample", f"{z}[{d}]"), values, cells, config.padding))

    c = categorical_block_name(model.spec, config.categorical_block)
    if c is not None:
        k = model.spec.block(c).size
        codes = _repeat_rows(base, torch.arange(s).repeat_interleave(k))
        codes[c] = F.one_hot(torch.arange(k).repeat(s), k).float()
        title = f"every category of {c} (columns), other blocks fixed, one sample per row"
        cells = _decode_cells(model, codes, k)
        grids.append(_grid(f"categories_{c}", title, ("sample", c), torch.arange(k), cells, config.padding))
    inputs = _to_unit(model, split.images_at(picked)).numpy()
    recons = _to_unit(model, model.decode_mean(base)).numpy()
    return Traversals(split.split, picked.numpy().astype(np.int64), tuple(grids), inputs, pair, tuple(swept), recons)


def dims_by_kl(split: EncodedSplit, block: str) -> list[int]:
    """Dims of a Gaussian block, highest mean KL(q(z_d|x) || N(0, 1)) over the split first."""
    kl = split.kl_per_dim[block].mean(dim=0)
    return [int(d) for d in torch.argsort(kl, descending=True, stable=True)]
