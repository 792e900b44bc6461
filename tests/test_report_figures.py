"""The report's PNGs: which figures a report writes, that they are the labelled views of its
arrays, and that a comparison draws every model's traversals on the same dims."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest
import torch
from PIL import Image

from vmieval.analysis.traversals import TraversalConfig, check_traversal_config, traversal_grids
from vmieval.architectures import build_architecture
from vmieval.data import load_images
from vmieval.encoded import encode_split
from vmieval.errors import OutputError, UsageError
from vmieval.estimators.config import MIConfig
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.results import Report, ReportConfig, build_report, check_outputs, same_traversals, write_outputs
from vmieval.spec import ModelSpec, categorical, gaussian

HISTORY = [{"epoch": e, "elbo": -300.0 + e, "kl": {"c": 0.1 * e, "z": 1.0 * e}, "mi_bound": 0.2 * e} for e in (1, 2, 3)]
TINY_MI = ReportConfig(seed=0, mi=MIConfig(samples=200, max_epochs=2, patience=1, q_hidden=16))
NO_MI = ReportConfig(seed=0, mi=None)


def model(z: int, seed: int) -> FrozenVAE:
    spec = ModelSpec((1, 28, 28), (gaussian("z", z), categorical("c", 10)))
    torch.manual_seed(seed)
    module = build_architecture("mlp", {"hidden": [16]}, spec)
    info = CheckpointInfo(
        f"/ckpt/m{seed}.pt", "vmieval-native", f"{seed:064d}", "mlp", {"training": {"history": HISTORY}}
    )
    return FrozenVAE.from_module(module, spec, info)


@pytest.fixture(scope="module")
def data():
    return load_images("mnist-sample", "test", limit=60)


@pytest.fixture(scope="module")
def pair(data) -> list[Report]:
    a_model, b_model = model(6, 0), model(6, 1)
    a = build_report(a_model, data, "a", TINY_MI)
    b = build_report(b_model, data, "b", same_traversals(TINY_MI, a, b_model))
    return [a, b]


def test_comparison_draws_both_models_on_the_first_models_dims(pair: list[Report]) -> None:
    a, b = (r.traversals for r in pair)
    assert a is not None and b is not None and a.dims is not None and len(a.sweep) == 4
    assert (b.dims, b.sweep) == (a.dims, a.sweep)
    assert [g.name for g in b.grids] == [g.name for g in a.grids]
    assert pair[1].settings["traversal"]["sweep"] == a.sweep  # the pinned choice is stored with B
    assert pair[0].settings["traversal"]["sweep"] is None


def test_same_traversals_leaves_a_model_that_cannot_take_the_dims(pair: list[Report]) -> None:
    small = model(2, 3)  # z has 2 dims: A's sweep (4 dims of 6) does not fit
    assert same_traversals(TINY_MI, pair[0], small) is TINY_MI


def test_comparison_writes_every_figure(pair: list[Report], tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = write_outputs(pair, out)
    names = {p.name for p in written.pngs}
    grids = {f"{r.name}-{g.name}.png" for r in pair for g in r.traversals.grids}
    per_model = {"a-contingency_c.png", "b-contingency_c.png", "a-latents.png", "b-latents.png"}
    shared = {"comparison-mi.png", "comparison-probabilities_c.png", "comparison-training.png"}
    assert names == grids | per_model | shared
    assert {p.name for p in out.glob("*.png")} == names
    for path in written.pngs:
        with Image.open(path) as image:
            image.verify()
    grid = pair[1].traversals.grid("categories_c")
    with Image.open(out / "b-categories_c.png") as image:
        assert image.width > grid.pixels.shape[1] and image.height > grid.pixels.shape[0]  # labelled, enlarged
    with h5py.File(written.h5, "r") as f:
        assert f["b/traversals/categories_c"].attrs["png"] == str(out / "b-categories_c.png")
    assert pair[0].png["contingency_c"] == str(out / "a-contingency_c.png")

    # An earlier comparison's figures are not overwritten without --force, even alone in the folder.
    for path in out.iterdir():
        if not path.name.startswith("comparison-"):
            path.unlink()
    with pytest.raises(OutputError, match="comparison-"):
        check_outputs(out, ["a", "b"], force=False)


def test_single_model_figures_are_named_after_it(data, tmp_path: Path) -> None:
    solo = build_report(model(3, 4), data, "solo", NO_MI)
    written = write_outputs([solo], tmp_path / "solo")
    names = {p.name for p in written.pngs}
    assert {"solo-probabilities_c.png", "solo-training.png", "solo-contingency_c.png"} <= names
    assert not any(n.startswith("comparison-") for n in names)  # no MI rows, one model: no bar chart


def test_traversals_record_what_they_drew(data) -> None:
    m = model(6, 5)
    split = encode_split(m, data)
    t = traversal_grids(m, split, torch.Generator().manual_seed(0), TraversalConfig(samples=3, steps=3, sweep=(5, 1)))
    assert t.sweep == (5, 1) and [g.name for g in t.grids if g.name.startswith("sweep_")] == ["sweep_z_5", "sweep_z_1"]
    assert t.dims is not None and t.grids[0].name == f"pair_z_{t.dims[0]}_{t.dims[1]}"
    assert t.inputs is not None and t.inputs.shape == (3, 1, 28, 28)
    with pytest.raises(UsageError, match="sweep dims"):
        check_traversal_config(m.spec, TraversalConfig(sweep=(6,)))


def test_report_compare_cli_uses_the_first_models_dims(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from vmieval.cli.main import cli

    from vmieval.checkpoints import save_native

    spec = ModelSpec((1, 28, 28), (gaussian("z", 6), categorical("c", 10)))
    paths = []
    for name, seed in (("a", 0), ("b", 1)):
        torch.manual_seed(seed)
        module = build_architecture("mlp", {"hidden": [16]}, spec)
        paths.append(save_native(tmp_path / f"{name}.pt", module, "mlp", {"hidden": [16]}, spec, {"seed": seed}))
    fast = ["--dataset", "mnist-sample", "--limit", "60", "--no-mi"]

    def grids(*args: str, out: str) -> dict[str, list[str]]:
        result = CliRunner().invoke(cli, ["report", *args, *fast, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
        with h5py.File(tmp_path / out / "report.h5", "r") as f:
            return {m: sorted(f[f"{m}/traversals"].attrs["grids"]) for m in ("a", "b") if m in f}

    alone = grids(str(paths[1]), out="b-alone")["b"]
    both = grids("--compare", *map(str, paths), out="ab")
    assert alone != both["a"]  # B on its own picks other dims, so the next line tests the pinning
    assert both["b"] == both["a"]
