"""Every data source on tiny synthetic data written at test time in the format's published layout:
.npy/.npz (dSprites' own keys included), image folders, HDF5 (3D Shapes' keys), torchvision's on-disk
layouts; and the one conversion to a spec (conform.py) that follows them all."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from vmieval.data import Fit, open_dataset, open_source
from vmieval.data.arrays import DSPRITES_FACTORS
from vmieval.data.hdf5 import SHAPES3D_FACTORS
from vmieval.errors import DataError


def ramp(n: int, c: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, c, h, w] with image i's pixels all distinct from image j's (value 7 * i + noise)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, c, h, w), dtype=np.uint8)


def stacked(dataset, batch_size: int = 3) -> tuple[torch.Tensor, list, list]:  # noqa: ANN001
    images, labels, factors = [], [], []
    for batch in dataset.batches(batch_size):
        images.append(batch.images)
        labels.append(batch.labels)
        factors.append(batch.factors)
    return torch.cat(images), labels, factors


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_npy_layouts_give_nchw_in_unit_range(tmp_path: Path, layout: str) -> None:
    c = 1 if layout == "NHW" else 3
    native = ramp(7, c, 5, 6)
    stored = {"NHW": native[:, 0], "NHWC": native.transpose(0, 2, 3, 1), "NCHW": native}[layout]
    np.save(tmp_path / "x.npy", stored)
    data = open_dataset(str(tmp_path / "x.npy"))
    images, labels, _ = stacked(data)
    assert data.shape == (c, 5, 6) and not data.labelled
    assert torch.equal(images, torch.from_numpy(native).float() / 255)
    assert all(batch is None for batch in labels)


def test_npy_float_in_unit_range_is_kept(tmp_path: Path) -> None:
    x = np.random.default_rng(1).random((4, 8, 8)).astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    images, _, _ = stacked(open_dataset(str(tmp_path / "f.npy")))
    assert torch.equal(images[:, 0], torch.from_numpy(x))


def test_npz_with_labels_factors_and_names(tmp_path: Path) -> None:
    native = ramp(10, 1, 4, 4)
    labels = np.arange(10) % 3
    factors = np.stack([np.arange(10), np.arange(10) * 0.5], axis=1)
    np.savez_compressed(
        tmp_path / "d.npz", images=native[:, 0], labels=labels, factors=factors, factor_names=np.array(["a", "b"])
    )
    data = open_dataset(str(tmp_path / "d.npz"))
    images, batch_labels, batch_factors = stacked(data, batch_size=4)
    assert data.labelled and data.factor_names == ("a", "b")
    assert torch.equal(torch.cat(batch_labels), torch.from_numpy(labels))
    assert torch.equal(torch.cat(batch_factors), torch.from_numpy(factors))
    assert torch.equal(images, torch.from_numpy(native).float() / 255)


def test_dsprites_layout_read_as_is(tmp_path: Path) -> None:
    """dSprites stores 0/1 pixel bytes and 6 latent columns (colour constant); ours drops colour."""
    n = 12
    imgs = (np.random.default_rng(2).random((n, 64, 64)) > 0.5).astype(np.uint8)
    classes = np.stack(
        [np.zeros(n), np.arange(n) % 3, np.arange(n) % 6, np.arange(n) % 40, np.arange(n), -np.arange(n)]
    )
    np.savez_compressed(
        tmp_path / "dsprites.npz", imgs=imgs, latents_classes=classes.T.astype(np.int64), latents_values=classes.T * 0.1
    )
    data = open_dataset(str(tmp_path / "dsprites.npz"))
    images, _, factors = stacked(data, batch_size=5)
    assert data.factor_names == DSPRITES_FACTORS and not data.labelled
    assert torch.equal(images[:, 0], torch.from_numpy(imgs).float())  # 1 means white, not 1/255
    assert torch.equal(torch.cat(factors), torch.from_numpy(classes.T[:, 1:]).double())


def test_npz_streaming_subsample_matches_direct_indexing(tmp_path: Path) -> None:
    """A seeded subsample of a deflated member, read forward batch by batch, twice over."""
    native = ramp(300, 1, 6, 6, seed=3)[:, 0]
    np.savez_compressed(tmp_path / "big.npz", images=native, labels=np.arange(300))
    data = open_dataset(str(tmp_path / "big.npz"), limit=40, seed=7)
    again = open_dataset(str(tmp_path / "big.npz"), limit=40, seed=7)
    assert np.array_equal(data.indices, again.indices)
    assert np.all(np.diff(data.indices) > 0) and len(data) == 40
    assert not np.array_equal(data.indices, np.arange(40))
    for _ in range(2):  # the second pass reopens the member
        images, labels, _ = stacked(data, batch_size=9)
        assert torch.equal(images[:, 0], torch.from_numpy(native[data.indices]).float() / 255)
        assert torch.equal(torch.cat(labels), torch.from_numpy(data.indices))


def test_npy_is_memory_mapped(tmp_path: Path) -> None:
    np.save(tmp_path / "m.npy", ramp(5, 1, 4, 4)[:, 0])
    source = open_source(str(tmp_path / "m.npy"))
    assert isinstance(source._images, np.memmap)


def test_to_memory_equals_batches_and_keeps_provenance(tmp_path: Path) -> None:
    native = ramp(9, 3, 4, 4)
    np.savez(tmp_path / "p.npz", images=native, labels=np.arange(9))
    data = open_dataset(str(tmp_path / "p.npz"))
    held = data.to_memory(batch_size=4)
    images, _, _ = stacked(data)
    assert torch.equal(held.images, images) and torch.equal(held.labels, torch.arange(9))
    (record,) = held.provenance
    assert record.sha256 == hashlib.sha256((tmp_path / "p.npz").read_bytes()).hexdigest()
    assert record.path == str((tmp_path / "p.npz").resolve()) and record.bytes == (tmp_path / "p.npz").stat().st_size


def write_folder(root: Path, classes: dict[str, int] | None, c: int = 3, sizes: tuple = ((8, 8),)) -> None:
    rng = np.random.default_rng(4)
    groups = classes.items() if classes else [("", 3)]
    for name, count in groups:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            h, w = sizes[i % len(sizes)]
            pixels = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
            Image.fromarray(pixels[:, :, 0] if c == 1 else pixels).save(root / name / f"{i}.png")


def test_folder_with_class_subfolders_gives_labels(tmp_path: Path) -> None:
    write_folder(tmp_path / "imgs", {"cat": 2, "dog": 3})
    (tmp_path / "imgs" / ".ipynb_checkpoints").mkdir()  # hidden: not a class
    data = open_dataset(str(tmp_path / "imgs"))
    images, labels, _ = stacked(data)
    assert data.labelled and data.source.classes == ("cat", "dog")
    assert torch.cat(labels).tolist() == [0, 0, 1, 1, 1]
    assert images.shape == (5, 3, 8, 8) and float(images.max()) <= 1.0
    assert len(data.provenance) == 1


def test_flat_folder_is_unlabelled_and_sizes_fit_to_the_model(tmp_path: Path) -> None:
    write_folder(tmp_path / "flat", None, c=1, sizes=((8, 8), (10, 6)))
    data = open_dataset(str(tmp_path / "flat"))
    assert not data.labelled
    with pytest.raises(DataError, match="differ in size"):
        stacked(data)
    images, _, _ = stacked(data.fitted(Fit((3, 16, 16))))
    assert images.shape == (3, 3, 16, 16)
    assert torch.equal(images[:, 0], images[:, 1])  # grey copied into RGB


def test_hdf5_in_the_3dshapes_layout(tmp_path: Path) -> None:
    images = ramp(6, 3, 64, 64).transpose(0, 2, 3, 1)
    factors = np.random.default_rng(5).random((6, 6))
    with h5py.File(tmp_path / "3dshapes.h5", "w") as f:
        f["images"] = images
        f["labels"] = factors
    data = open_dataset(f"{tmp_path / '3dshapes.h5'}:images")
    out, labels, got = stacked(data, batch_size=4)
    assert data.factor_names == SHAPES3D_FACTORS and not data.labelled
    assert torch.equal(out, torch.from_numpy(images.transpose(0, 3, 1, 2).copy()).float() / 255)
    assert torch.equal(torch.cat(got), torch.from_numpy(factors))


def test_hdf5_with_named_keys_and_a_sparse_subsample(tmp_path: Path) -> None:
    native = ramp(50, 1, 5, 5)[:, 0]
    with h5py.File(tmp_path / "d.hdf5", "w") as f:
        f["x"] = native
        f["y"] = np.arange(50) % 4
    data = open_dataset(f"{tmp_path / 'd.hdf5'}:x:y", limit=5, seed=0)
    out, labels, _ = stacked(data, batch_size=5)
    assert torch.equal(out[:, 0], torch.from_numpy(native[data.indices]).float() / 255)
    assert torch.equal(torch.cat(labels), torch.from_numpy(data.indices % 4))


def idx(array: np.ndarray) -> bytes:
    import struct

    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def test_torchvision_kmnist_from_its_raw_layout(tmp_path: Path) -> None:
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    native = ramp(5, 1, 28, 28)[:, 0]
    for prefix in ("train", "t10k"):  # torchvision wants both splits present
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx(native))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(np.arange(5, dtype=np.uint8)))
    data = open_dataset("KMNIST", data_dir=tmp_path)
    out, labels, _ = stacked(data)
    assert data.name == "kmnist" and torch.equal(torch.cat(labels), torch.arange(5))
    assert torch.equal(out[:, 0], torch.from_numpy(native).float() / 255)
    assert [Path(r.path).name for r in data.provenance] == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def test_torchvision_cifar10_from_its_pickled_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CIFAR-10's python layout (plain arrays pickled, as published); torchvision's md5 check is for the
    official files, so it is switched off for these synthetic ones."""
    import torchvision.datasets.cifar

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    native = ramp(4, 3, 32, 32)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": native.reshape(4, -1), "labels": [3, 1, 4, 1]}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args: True)
    data = open_dataset("CIFAR-10", data_dir=tmp_path)
    out, labels, _ = stacked(data)
    assert torch.cat(labels).tolist() == [3, 1, 4, 1] and data.source.classes[3] == "class3"
    assert torch.equal(out, torch.from_numpy(native).float() / 255)


def test_torchvision_svhn_from_its_mat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import scipy.io
    from torchvision.datasets import SVHN

    native = ramp(3, 3, 32, 32)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": native.transpose(2, 3, 1, 0), "y": np.array([[10], [1], [2]])})
    monkeypatch.setattr(SVHN, "_check_integrity", lambda self: True)
    data = open_dataset("svhn", data_dir=tmp_path)
    out, labels, _ = stacked(data)
    assert torch.cat(labels).tolist() == [0, 1, 2]  # SVHN's 10 is the digit 0
    assert torch.equal(out, torch.from_numpy(native).float() / 255)


def test_torchvision_dataset_missing_is_one_line_with_the_fixes(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        open_dataset("cifar100", data_dir=tmp_path)
    assert "\n" not in str(info.value) and "--download" in str(info.value) and "cifar-100-python" in str(info.value)


def test_fit_maps_to_the_spec_range_and_size(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.full((2, 4, 4), 255, dtype=np.uint8))
    data = open_dataset(str(tmp_path / "x.npy"), fit=Fit((1, 8, 8), (-1.0, 1.0)))
    images, _, _ = stacked(data)
    assert images.shape == (2, 1, 8, 8) and torch.allclose(images, torch.ones_like(images))
    np.save(tmp_path / "z.npy", np.zeros((2, 4, 4), dtype=np.uint8))
    images, _, _ = stacked(open_dataset(str(tmp_path / "z.npy"), fit=Fit((1, 4, 4), (-1.0, 1.0))))
    assert torch.equal(images, -torch.ones_like(images))


def test_rgb_to_grey_only_when_asked(tmp_path: Path) -> None:
    np.save(tmp_path / "rgb.npy", ramp(2, 3, 4, 4))
    with pytest.raises(DataError, match="--grey"):
        stacked(open_dataset(str(tmp_path / "rgb.npy"), fit=Fit((1, 4, 4))))
    images, _, _ = stacked(open_dataset(str(tmp_path / "rgb.npy"), fit=Fit((1, 4, 4), rgb_to_grey=True)))
    assert images.shape == (2, 1, 4, 4)


def test_torchvision_emnist_variant_from_its_raw_layout(tmp_path: Path) -> None:
    raw = tmp_path / "EMNIST" / "raw"
    raw.mkdir(parents=True)
    native = ramp(4, 1, 28, 28)[:, 0]
    (raw / "emnist-letters-test-images-idx3-ubyte").write_bytes(idx(native))
    (raw / "emnist-letters-test-labels-idx1-ubyte").write_bytes(idx(np.array([1, 2, 3, 26], dtype=np.uint8)))
    data = open_dataset("emnist_letters", data_dir=tmp_path)
    out, labels, _ = stacked(data)
    assert data.name == "emnist-letters" and torch.cat(labels).tolist() == [1, 2, 3, 26]
    assert torch.equal(out[:, 0], torch.from_numpy(native).float() / 255)
    assert len(data.provenance) == 2


def test_torchvision_celeba_from_its_published_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CelebA's list files (space-separated, counts and headers as published) and aligned JPEG-named images;
    the test split's 40 attributes become factors. torchvision's md5 check is for the official lists."""
    import torchvision.datasets.celeba

    base = tmp_path / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, 5)]
    partition = [0, 2, 2, 1]
    attrs = np.where(np.random.default_rng(6).random((4, 40)) > 0.5, 1, -1)
    attr_names = [f"attr{j}" for j in range(40)]
    rng = np.random.default_rng(7)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(base / "img_align_celeba" / name)

    def table(header: str | None, rows: list[str]) -> str:
        return "".join([f"{len(rows)}\n{header}\n" if header else "", *(r + "\n" for r in rows)])

    attr_rows = [n + "".join(f" {a}" for a in row) for n, row in zip(names, attrs, strict=True)]
    files = {
        "list_eval_partition.txt": table(None, [f"{n} {p}" for n, p in zip(names, partition, strict=True)]),
        "identity_CelebA.txt": table(None, [f"{n} {i}" for i, n in enumerate(names)]),
        "list_bbox_celeba.txt": table("image_id x_1 y_1 width height", [f"{n} 1 2 3 4" for n in names]),
        "list_landmarks_align_celeba.txt": table("lefteye_x " * 10, [f"{n}" + " 5" * 10 for n in names]),
        "list_attr_celeba.txt": table(" ".join(attr_names), attr_rows),
    }  # fmt: skip
    for name, text in files.items():
        (base / name).write_text(text)
    monkeypatch.setattr(torchvision.datasets.celeba, "check_integrity", lambda *args: True)
    data = open_dataset("CelebA", data_dir=tmp_path, fit=Fit((3, 64, 64)))
    out, labels, factors = stacked(data)
    assert len(data) == 2 and not data.labelled and data.factor_names == tuple(attr_names)
    assert out.shape == (2, 3, 64, 64)
    assert torch.equal(torch.cat(factors), torch.from_numpy((attrs[[1, 2]] + 1) // 2).double())
    assert Path(data.provenance[-1].path).name == "img_align_celeba"


def test_download_reaches_torchvision_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vmieval.data import torchvision_sets

    calls: list[bool] = []

    def fake_open(base: str, variant: str | None, root: Path, split: str, download: bool) -> None:
        calls.append(download)
        raise RuntimeError("Dataset not found. You can use download=True to download it")

    monkeypatch.setattr(torchvision_sets, "_open", fake_open)
    for download in (False, True):
        with pytest.raises(DataError):
            open_dataset("cifar10", data_dir=tmp_path, download=download)
    assert calls == [False, True]


def test_square_fit_keeps_native_channels(tmp_path: Path) -> None:
    np.save(tmp_path / "rgb.npy", ramp(2, 3, 4, 4))
    data = open_dataset(str(tmp_path / "rgb.npy"), fit=Fit.square(6))
    assert data.shape == (3, 6, 6) and stacked(data)[0].shape == (2, 3, 6, 6)


def test_fitting_to_a_signed_range_leaves_the_callers_images_alone() -> None:
    """[-1, 1] models (the paper presets): converting twice gives the same result, the input is unchanged."""
    import torch

    from vmieval.data.conform import Fit, convert

    images = torch.rand(3, 1, 4, 4)
    before = images.clone()
    fit = Fit(shape=(1, 4, 4), value_range=(-1.0, 1.0))
    first = convert(images, 1.0, fit, "test")
    assert torch.equal(images, before)
    assert torch.equal(convert(images, 1.0, fit, "test"), first)
    assert float(first.min()) >= -1.0 and float(first.max()) <= 1.0
