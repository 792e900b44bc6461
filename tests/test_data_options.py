"""The CLI's data options (cli/data_options.py), in-process on a one-line command: which data a checkpoint
is evaluated on, never guessed silently, and how images are fitted to its spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner
from idx_files import isolate_search, write_split
from shared_paths import SHARED_JOINTVAE
from vmieval.cli.data_options import data_options, dataset_for, open_for_models

from vmieval.errors import DataError, UsageError
from vmieval.spec import ModelSpec, gaussian


@dataclass
class FakeModel:
    """What open_for_models reads from a FrozenVAE: its spec and training record."""

    spec: ModelSpec
    training_record: dict[str, Any] = field(default_factory=dict)


def model(shape: tuple[int, int, int] = (1, 28, 28), dataset: str | None = None, **spec: Any) -> FakeModel:
    record = {"dataset": dataset} if dataset else {}
    return FakeModel(ModelSpec(shape, (gaussian("z", 2),), **spec), record)


def run(models: list[FakeModel], args: list[str]) -> tuple[click.testing.Result, dict]:
    seen: dict = {}

    @click.command()
    @data_options
    def command() -> None:
        data = open_for_models(models).to_memory()
        seen.update(data=data)

    result = CliRunner().invoke(command, args)
    return result, seen


@pytest.fixture(autouse=True)
def isolated_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_search(monkeypatch, tmp_path)


def test_recorded_foreign_name_is_mapped() -> None:
    assert dataset_for([model(dataset="fashion_mnist")], None) == "fashion-mnist"
    assert dataset_for([model(dataset="MNIST")], None) == "mnist"
    assert dataset_for([model(dataset="fashion_mnist")], "./x.npz") == "./x.npz"


def test_no_recorded_dataset_and_no_data_asks_for_data() -> None:
    """Never a silent MNIST: one line naming the option to pass."""
    with pytest.raises(UsageError, match="records no training dataset; pass --data"):
        dataset_for([model()], None)


def test_recorded_sample_with_a_data_dir_says_to_add_data_mnist(tmp_path: Path) -> None:
    """The README's `mi-bound model.pt --target c --data-dir ~/data` on the shipped fixture: the way out."""
    result, _ = run([model(dataset="mnist-sample")], ["--data-dir", str(tmp_path)])
    assert isinstance(result.exception, UsageError) and "add --data mnist" in str(result.exception)


def test_recorded_unknown_name_is_an_error_not_mnist() -> None:
    with pytest.raises(UsageError, match="'dsprites'"):
        dataset_for([model(dataset="dsprites")], None)


def test_jointvae_style_record_with_only_data_dir(tmp_path: Path) -> None:
    write_split(tmp_path / "fashion")
    result, seen = run([model(dataset="fashion_mnist")], ["--data-dir", str(tmp_path / "fashion")])
    assert result.exit_code == 0, result.output
    assert seen["data"].name == "fashion-mnist" and len(seen["data"]) == 6


def test_data_dir_beside_the_shipped_sample_is_refused(tmp_path: Path) -> None:
    result, _ = run([model(dataset="sample")], ["--data", "mnist-sample", "--data-dir", str(tmp_path)])
    assert isinstance(result.exception, UsageError) and "--data-dir" in str(result.exception)


def test_file_is_fitted_to_the_spec_and_the_change_is_said(tmp_path: Path) -> None:
    np.savez(tmp_path / "s.npz", images=np.full((5, 4, 4), 255, np.uint8), factors=np.zeros((5, 2)))
    result, seen = run([model((3, 8, 8), value_range=(-1.0, 1.0))], ["--data", str(tmp_path / "s.npz")])
    assert result.exit_code == 0, result.output
    data = seen["data"]
    assert data.images.shape == (5, 3, 8, 8) and float(data.images.min()) == pytest.approx(1.0)
    assert data.labels is None and data.factors.shape == (5, 2) and data.factor_names == ("factor_0", "factor_1")
    assert "1x4x4 -> 3x8x8" in result.stderr


def test_dataset_alias_limit_and_subsample_seed(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(40, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8))
    args = ["--dataset", str(tmp_path / "x.npy"), "--image-size", "2", "--limit", "5"]
    _, first = run([model((1, 2, 2))], args)
    _, drawn = run([model((1, 2, 2))], [*args, "--subsample-seed", "3"])
    _, again = run([model((1, 2, 2))], [*args, "--subsample-seed", "3"])
    assert first["data"].images[:, 0, 0, 0].mul(255).round().tolist() == [0, 1, 2, 3, 4]
    picked = drawn["data"].images[:, 0, 0, 0]
    assert picked.tolist() == again["data"].images[:, 0, 0, 0].tolist() and picked.tolist() != [0, 1, 2, 3, 4]
    assert picked.tolist() == sorted(picked.tolist())


def test_grey_flag_allows_rgb_to_grey(tmp_path: Path) -> None:
    np.save(tmp_path / "rgb.npy", np.zeros((3, 4, 4, 3), np.uint8))
    refused, _ = run([model((1, 4, 4))], ["--data", str(tmp_path / "rgb.npy")])
    assert isinstance(refused.exception, DataError) and "--grey" in str(refused.exception)
    converted, seen = run([model((1, 4, 4))], ["--data", str(tmp_path / "rgb.npy"), "--grey"])
    assert converted.exit_code == 0 and seen["data"].images.shape == (3, 1, 4, 4)


def bad_inputs(tmp_path: Path) -> dict[str, str]:
    """One of each bad data input, written into tmp_path; returns --data values by name."""
    np.savez(tmp_path / "count.npz", images=np.zeros((5, 28, 28), np.uint8), labels=np.arange(4))
    np.save(tmp_path / "five.npy", np.zeros((2, 1, 1, 28, 28), np.uint8))
    np.save(tmp_path / "empty.npy", np.zeros((2, 0, 0), np.uint8))
    (tmp_path / "noimages").mkdir()
    (tmp_path / "noimages" / "readme.txt").write_text("no images here")
    import h5py

    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"] = np.zeros((2, 28, 28), np.uint8)
    return {
        "label count": str(tmp_path / "count.npz"),
        "5-D array": str(tmp_path / "five.npy"),
        "0x0 images": str(tmp_path / "empty.npy"),
        "no images": str(tmp_path / "noimages"),
        "HDF5 key": f"{tmp_path / 'd.h5'}:pixels",
        "missing file": str(tmp_path / "nothing.npz"),
    }


@pytest.mark.parametrize("case", ["label count", "5-D array", "0x0 images", "no images", "HDF5 key", "missing file"])
def test_bad_data_is_one_line_and_exit_5_from_the_cli(tmp_path: Path, case: str) -> None:
    from shared_paths import FIXTURE_MODELS
    from vmieval.cli.main import cli

    args = ["mi-bound", str(FIXTURE_MODELS / "sample-joint-mi.pt"), "--data", bad_inputs(tmp_path)[case]]
    result = CliRunner().invoke(cli, args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 5, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), lines


@pytest.mark.skipif(not SHARED_JOINTVAE.exists(), reason="no JointVAE checkpoint in ../shared/data")
def test_jointvae_fashion_record_is_scored_on_fashion_with_only_data_dir(tmp_path: Path) -> None:
    """JointVAE's specs.json says `fashion_mnist`: with only --data-dir, the data is Fashion-MNIST (not
    MNIST with a warning, as before), and the results say so."""
    import json
    import shutil

    from vmieval.cli.main import cli

    folder = tmp_path / "jointvae-fashion"
    folder.mkdir()
    shutil.copy(SHARED_JOINTVAE, folder / "model.pt")
    specs = json.loads((SHARED_JOINTVAE.parent / "specs.json").read_text())
    (folder / "specs.json").write_text(json.dumps({**specs, "dataset": "fashion_mnist"}))
    write_split(tmp_path / "fashion", n=40)
    args = ["mi-bound", str(folder / "model.pt"), "--data-dir", str(tmp_path / "fashion"), "--json"]
    result = CliRunner().invoke(cli, [*args, "--samples", "200", "--max-epochs", "1"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (
        '"dataset": "fashion-mnist"' in json.dumps(document)
        and "warning: the checkpoint's dataset" not in result.stderr
    )
    assert "28x28 -> 32x32" in result.stderr
