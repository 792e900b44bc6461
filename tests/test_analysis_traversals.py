"""Traversal grids: shapes, what each cell is, determinism, and PNG output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vmieval.analysis.traversals import TraversalConfig, Traversals, traversal_grids
from vmieval.architectures import build_architecture
from vmieval.data import ImageData
from vmieval.encoded import encode_split
from vmieval.errors import UsageError
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian

CONFIG = TraversalConfig(samples=3, steps=5, sweep_dims=2, padding=2)


def mlp_model(spec: ModelSpec, seed: int = 0, ignore_block: str | None = None) -> FrozenVAE:
    """An untrained MLP VAE; `ignore_block` zeroes the decoder's weights on that block's inputs."""
    torch.manual_seed(seed)
    module = build_architecture("mlp", {"hidden": [32]}, spec)
    if ignore_block is not None:
        i = [block.name for block in spec.blocks].index(ignore_block)
        a = sum(block.size for block in spec.blocks[:i])
        b = a + spec.blocks[i].size
        with torch.no_grad():
            module.decoder[0].weight[:, a:b] = 0.0
    return FrozenVAE.from_module(module, spec, CheckpointInfo("memory", "test", "0" * 64, "mlp"))


def grids(model: FrozenVAE, data: ImageData, generator: torch.Generator | None, config: TraversalConfig) -> Traversals:
    return traversal_grids(model, encode_split(model, data), generator, config)


def random_data(n: int = 40, seed: int = 0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    return ImageData(torch.rand(n, 1, 28, 28, generator=g), torch.arange(n) % 10, "random", "test", "memory")


@pytest.fixture
def joint() -> ModelSpec:
    return ModelSpec((1, 28, 28), (gaussian("z", 4), categorical("c", 10)))


def grid_side(cells: int, pad: int = 2, size: int = 28) -> int:
    return cells * (size + pad) + pad


def test_grid_names_and_shapes(joint: ModelSpec) -> None:
    t = grids(mlp_model(joint), random_data(), torch.Generator().manual_seed(0), CONFIG)
    names = [g.name for g in t.grids]
    assert names[0].startswith("pair_z_") and names[-1] == "categories_c"
    assert sum(n.startswith("sweep_z_") for n in names) == 2
    assert t.sample_indices.shape == (3,) and len(set(t.sample_indices.tolist())) == 3
    pair, cats = t.grids[0], t.grid("categories_c")
    assert pair.cells.shape == (5, 5, 1, 28, 28)
    assert pair.pixels.shape == (grid_side(5), grid_side(5), 3) and pair.pixels.dtype == np.uint8
    assert cats.cells.shape == (3, 10, 1, 28, 28)
    assert cats.pixels.shape == (grid_side(3), grid_side(10), 3)
    np.testing.assert_allclose(pair.values, np.linspace(-3, 3, 5))
    sweep = t.grids[1]
    assert sweep.cells.shape == (3, 5, 1, 28, 28) and sweep.pixels.shape == (grid_side(3), grid_side(5), 3)


def test_category_cells_are_the_decoder_output_with_only_c_swapped(joint: ModelSpec) -> None:
    model, data = mlp_model(joint), random_data()
    t = grids(model, data, torch.Generator().manual_seed(1), CONFIG)
    cats = t.grid("categories_c")
    post = model.encode(data.images[torch.from_numpy(t.sample_indices)])
    for i in range(3):
        codes = {"z": post["z"].mean[i : i + 1].repeat(10, 1), "c": torch.eye(10)}
        np.testing.assert_allclose(cats.cells[i], model.decode_mean(codes).numpy(), atol=1e-6)
    # The swapped category changes the image (the decoder uses c) ...
    assert np.abs(cats.cells[:, 0] - cats.cells[:, 1]).max() > 1e-4


def test_decoder_that_ignores_c_gives_identical_columns(joint: ModelSpec) -> None:
    t = grids(mlp_model(joint, ignore_block="c"), random_data(), torch.Generator().manual_seed(1), CONFIG)
    cells = t.grid("categories_c").cells
    np.testing.assert_allclose(cells, np.broadcast_to(cells[:, :1], cells.shape), atol=1e-6)
    assert np.abs(cells[0, 0] - cells[1, 0]).max() > 1e-4  # rows differ: their z differs


def test_pair_cell_sets_exactly_the_two_dims(joint: ModelSpec) -> None:
    model, data = mlp_model(joint), random_data()
    config = TraversalConfig(samples=2, steps=3, dims=(1, 3), sweep_dims=0)
    t = grids(model, data, torch.Generator().manual_seed(2), config)
    pair = t.grid("pair_z_1_3")
    first = data.images[int(t.sample_indices[0]) : int(t.sample_indices[0]) + 1]
    post = model.encode(first)
    z = post["z"].mean.clone()
    z[0, 1], z[0, 3] = 3.0, -3.0  # row 2 (last value), column 0 (first value)
    c = F.one_hot(post["c"].logits.argmax(dim=1), 10).float()
    np.testing.assert_allclose(pair.cells[2, 0], model.decode_mean({"z": z, "c": c})[0].numpy(), atol=1e-6)


def test_same_generator_seed_gives_same_grids(joint: ModelSpec) -> None:
    model, data = mlp_model(joint), random_data()
    a = grids(model, data, torch.Generator().manual_seed(5), CONFIG)
    b = grids(model, data, torch.Generator().manual_seed(5), CONFIG)
    np.testing.assert_array_equal(a.sample_indices, b.sample_indices)
    for ga, gb in zip(a.grids, b.grids, strict=True):
        np.testing.assert_array_equal(ga.pixels, gb.pixels)


def test_blocks_decide_which_grids_exist() -> None:
    only_z = ModelSpec((1, 28, 28), (gaussian("z", 1),))
    names = [g.name for g in grids(mlp_model(only_z), random_data(), None, CONFIG).grids]
    assert names == ["sweep_z_0"]  # one dim: no pair grid; no categorical block: no category grid
    only_c = ModelSpec((1, 28, 28), (categorical("c", 4),))
    names = [g.name for g in grids(mlp_model(only_c), random_data(), None, CONFIG).grids]
    assert names == ["categories_c"]


def test_bad_dims_are_refused(joint: ModelSpec) -> None:
    with pytest.raises(UsageError, match="two different dims"):
        grids(mlp_model(joint), random_data(), None, TraversalConfig(dims=(2, 2)))
