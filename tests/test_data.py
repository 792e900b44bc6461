"""Tests for vmieval.data: IDX parsing, folder layouts, search order, errors, and the shipped sample.

Synthetic IDX files are written into tmp_path so every layout and failure mode is exercised without
real data; one test reads real MNIST when this machine has a copy.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from idx_files import idx_bytes, isolate_search, write, write_split
from shared_paths import SHARED_MNIST

from vmieval import data
from vmieval.data import idx
from vmieval.errors import DataError, UsageError

REAL_MNIST = SHARED_MNIST


@pytest.fixture(autouse=True)
def isolated_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_search(monkeypatch, tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_reads_gz_and_plain(tmp_path: Path, gz: bool) -> None:
    images, labels = write_split(tmp_path, gz=gz)
    loaded = data.load_images("mnist", "test", data_dir=tmp_path)
    assert loaded.images.shape == (6, 1, 28, 28)
    assert loaded.images.dtype == torch.float32
    assert loaded.labels.dtype == torch.int64
    assert torch.equal(loaded.labels, torch.from_numpy(labels.astype(np.int64)))
    assert torch.allclose(loaded.images[:, 0], torch.from_numpy(images).float() / 255)
    assert float(loaded.images.min()) >= 0.0 and float(loaded.images.max()) <= 1.0
    assert loaded.source.endswith("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    assert (loaded.name, loaded.split, len(loaded)) == ("mnist", "test", 6)


@pytest.mark.parametrize(
    ("name", "subdir"),
    [
        ("mnist", ""),
        ("mnist", "mnist"),
        ("mnist", "MNIST/raw"),
        ("fashion-mnist", ""),
        ("fashion-mnist", "fashion-mnist"),
        ("fashion-mnist", "FashionMNIST/raw"),
    ],
)
def test_layouts(tmp_path: Path, name: str, subdir: str) -> None:
    write_split(tmp_path / subdir, split="train", n=4)
    loaded = data.load_images(name, "train", data_dir=tmp_path)
    assert len(loaded) == 4
    assert Path(loaded.source).parent == tmp_path / subdir


def test_other_datasets_subfolder_is_not_used(tmp_path: Path) -> None:
    write_split(tmp_path / "fashion-mnist")
    with pytest.raises(DataError):
        data.load_images("mnist", data_dir=tmp_path)


def test_bad_magic(tmp_path: Path) -> None:
    write_split(tmp_path)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    write(bad, b"\x00\x00\x09\x03" + gzip.decompress(bad.read_bytes())[4:])
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz") as info:
        data.load_images("mnist", data_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_truncated(tmp_path: Path) -> None:
    write_split(tmp_path, gz=False)
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated") as info:
        data.load_images("mnist", data_dir=tmp_path)
    assert str(bad) in str(info.value)


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    write_split(tmp_path)
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:40])
    with pytest.raises(DataError, match=str(bad)):
        data.load_images("mnist", data_dir=tmp_path)


def test_count_mismatch(tmp_path: Path) -> None:
    write_split(tmp_path, n=6)
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(DataError, match="6 images but .* 5 labels"):
        data.load_images("mnist", data_dir=tmp_path)


def test_missing_dir_names_every_folder_and_the_fixes(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        data.load_images("mnist", data_dir=missing)
    message = str(info.value)
    assert "\n" not in message
    for folder in (missing, missing / "mnist", missing / "MNIST/raw"):
        assert str(folder) in message
    assert "--data-dir" in message and data.ENV_VAR in message and "--download" in message


def test_missing_fashion_mentions_debian_package(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        data.load_images("fashion-mnist")
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path / "debian") in message
    assert str(tmp_path / "home" / ".cache" / "vmieval") in message


def test_split_without_its_files_is_missing(tmp_path: Path) -> None:
    write_split(tmp_path, split="train")
    with pytest.raises(DataError, match="test split not found"):
        data.load_images("mnist", "test", data_dir=tmp_path)


def test_env_var_selects_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_split(tmp_path / "env" / "MNIST" / "raw", n=3)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert len(data.load_images("mnist")) == 3


def test_explicit_dir_wins_over_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_split(tmp_path / "env", n=3)
    write_split(tmp_path / "explicit", n=2)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert len(data.load_images("mnist", data_dir=tmp_path / "explicit")) == 2


def test_debian_path_is_the_fashion_default(tmp_path: Path) -> None:
    write_split(tmp_path / "debian", n=5)
    assert len(data.load_images("fashion-mnist")) == 5
    with pytest.raises(DataError):
        data.load_images("mnist")


def test_no_download_without_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("downloaded without download=True")

    monkeypatch.setattr(idx, "_download", fail)
    with pytest.raises(DataError):
        data.load_images("mnist", data_dir=tmp_path)


def test_download_places_files_then_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Path]] = []

    def fake_download(name: str, root: Path) -> None:
        calls.append((name, root))
        write_split(root / "FashionMNIST" / "raw", n=4)

    monkeypatch.setattr(idx, "_download", fake_download)
    loaded = data.load_images("fashion-mnist", download=True)
    assert calls == [("fashion-mnist", tmp_path / "home" / ".cache" / "vmieval")]
    assert len(loaded) == 4


@pytest.mark.parametrize("size", [32, 14])
def test_image_size_resizes(tmp_path: Path, size: int) -> None:
    write_split(tmp_path, n=3)
    loaded = data.load_images("mnist", data_dir=tmp_path, image_size=size)
    assert loaded.images.shape == (3, 1, size, size)
    # Constant images stay constant under bilinear resizing.
    assert torch.allclose(loaded.images[2], torch.full((1, size, size), 20 / 255), atol=1e-6)


def test_limit_keeps_the_first(tmp_path: Path) -> None:
    write_split(tmp_path, n=6)
    loaded = data.load_images("mnist", data_dir=tmp_path, limit=2)
    assert loaded.labels.tolist() == [0, 1]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "cifar"},
        {"name": "mnist", "split": "val"},
        {"name": "mnist", "limit": -1},
    ],
)
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        data.load_images(**kwargs)


def test_mnist_sample_splits() -> None:
    train = data.load_images("mnist-sample", "train")
    test = data.load_images("mnist-sample", "test")
    assert train.images.shape == (2500, 1, 28, 28)
    assert test.images.shape == (500, 1, 28, 28)
    for split in (train, test):
        assert 0 <= int(split.labels.min()) and int(split.labels.max()) <= 9
        assert len(split.labels.unique()) == 10
    assert not torch.equal(train.images[-500:], test.images)


def test_mnist_sample_resized_for_32px_models() -> None:
    loaded = data.load_images("mnist-sample", "test", image_size=32, limit=8)
    assert loaded.images.shape == (8, 1, 32, 32)


@pytest.mark.skipif(not REAL_MNIST.exists(), reason="no MNIST copy in ../shared/data/mnist")
def test_real_mnist() -> None:
    test = data.load_images("mnist", "test", data_dir=REAL_MNIST)
    assert test.images.shape == (10000, 1, 28, 28)
    assert sorted(test.labels.unique().tolist()) == list(range(10))
    train = data.load_images("mnist", "train", data_dir=REAL_MNIST, limit=3000)
    sample = data.load_images("mnist-sample", "train")
    assert torch.equal(train.images[:2500], sample.images)
    assert torch.equal(train.labels[:2500], sample.labels)


def test_fetch_dataset_downloads_only_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_download(name: str, root: Path) -> None:
        calls.append(name)
        for split in data.SPLITS:
            write_split(root / "MNIST" / "raw", split=split, n=4)

    monkeypatch.setattr(idx, "_download", fake_download)
    data.fetch_dataset("mnist", tmp_path / "d")
    data.fetch_dataset("mnist", tmp_path / "d")
    assert calls == ["mnist"]
    assert len(data.load_images("mnist", "train", tmp_path / "d")) == 4


def test_download_flag_reaches_the_loader_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from shared_paths import FIXTURE_MODELS
    from vmieval.cli.main import cli

    monkeypatch.setattr(idx, "_download", lambda name, root: write_split(root / "MNIST" / "raw", n=20))
    model = str(FIXTURE_MODELS / "sample-joint-mi.pt")
    args = ["mi-bound", model, "--dataset", "mnist", "--data-dir", str(tmp_path / "d"), "--samples", "200"]
    missing = CliRunner().invoke(cli, [*args, "--max-epochs", "1"])
    assert missing.exit_code == 5 and "--download" in missing.stderr
    fetched = CliRunner().invoke(cli, [*args, "--max-epochs", "1", "--download", "--json"])
    assert fetched.exit_code == 0, fetched.output
