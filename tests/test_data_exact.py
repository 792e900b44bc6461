"""Pixels read by their real range, by one rule (docs/data.md), and bounded sources that still read what
they should: wide and big-endian integers, 16-bit and float images, palettes, RGBA, CMYK, a `.npy`
named `.npz`, a folder with `.` links, HDF5 external data allowed and recorded, batches cut by the real
image size, and a folder's provenance covering the files read, not the ones past the limit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hostile_data import class_folder, h5_external_link, h5_external_storage, images, png_bytes, tiff_bytes
from PIL import Image

from vmieval.data import Fit, open_dataset
from vmieval.data import dataset as dataset_module


def _first(data: str, **options: object) -> torch.Tensor:
    return next(open_dataset(data, **options).batches()).images  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", [">u2", "<u2", ">u4", "<u8", ">i8", "i1", ">i2"])
def test_wide_and_big_endian_integer_arrays_read_by_value(tmp_path: Path, dtype: str) -> None:
    reference = images(4) % 100
    np.save(tmp_path / "a.npy", reference.astype(dtype))
    np.save(tmp_path / "b.npy", reference.astype("u1"))
    assert torch.equal(_first(str(tmp_path / "a.npy")), _first(str(tmp_path / "b.npy")))


def test_big_endian_floats_read_by_value(tmp_path: Path) -> None:
    values = (images(4) / 255.0).astype(">f4")
    np.save(tmp_path / "a.npy", values)
    assert torch.allclose(_first(str(tmp_path / "a.npy"))[:, 0], torch.from_numpy(values.astype("<f4")))


def test_a_npy_named_npz_is_read_as_what_it_is(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", images(4))
    os.rename(tmp_path / "a.npy", tmp_path / "a.npz")
    assert _first(str(tmp_path / "a.npz")).shape == (4, 1, 28, 28)


def _folder(tmp_path: Path, content: bytes, name: str = "a.png") -> str:
    return class_folder(tmp_path / "d", {f"c/{name}": content})


def test_sixteen_bit_png_is_divided_by_65535(tmp_path: Path) -> None:
    pixels = np.array([[0, 1, 32768, 65535]], np.uint16).repeat(4, 0)
    got = _first(_folder(tmp_path, png_bytes(pixels)))[0, 0, 0]
    assert torch.allclose(got, torch.tensor([0, 1, 32768, 65535]) / 65535.0)


def test_float_tiff_in_unit_range_is_read_as_is(tmp_path: Path) -> None:
    pixels = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    got = _first(_folder(tmp_path, tiff_bytes(pixels, "F"), "a.tif"))[0, 0]
    assert torch.allclose(got, torch.from_numpy(pixels))


def test_palette_png_stays_in_colour(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4))
    image.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    buffer = __import__("io").BytesIO()
    image.save(buffer, format="PNG")
    got = _first(_folder(tmp_path, buffer.getvalue()))[0]
    assert got.shape == (3, 4, 4) and torch.equal(got[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_rgba_drops_alpha_and_cmyk_is_converted(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 1], rgba[..., 3] = 255, 10
    got = _first(_folder(tmp_path / "rgba", png_bytes(rgba, "RGBA")))[0]
    assert torch.equal(got[:, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    cmyk = __import__("io").BytesIO()
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(cmyk, format="TIFF")  # pure red in CMYK
    red = _first(_folder(tmp_path / "cmyk", cmyk.getvalue(), "a.tif"))[0]
    assert torch.equal(red[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_dot_links_in_a_class_folder_read_each_image_once(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "d", {f"c/{i}.png": png_bytes(np.full((4, 4), i, np.uint8)) for i in range(3)})
    os.symlink(".", Path(root) / "c" / "again")
    os.symlink("..", Path(root) / "c" / "up")
    assert len(open_dataset(root)) == 3


def test_folder_provenance_covers_only_the_files_read(tmp_path: Path) -> None:
    root = class_folder(tmp_path / "d", {f"c/{i}.png": png_bytes(np.full((4, 4), i, np.uint8)) for i in range(6)})
    few = open_dataset(root, limit=2)
    list(few.batches())
    every = open_dataset(root)
    list(every.batches())
    assert few.provenance[0].bytes < every.provenance[0].bytes
    assert few.provenance[0].sha256 != every.provenance[0].sha256


def test_hdf5_data_outside_the_file_is_read_with_the_flag_and_recorded(tmp_path: Path) -> None:
    linked = h5_external_link(tmp_path / "x.h5", tmp_path / "other.h5")
    data = open_dataset(linked, allow_external=True)
    assert next(data.batches()).images.shape == (8, 1, 28, 28)
    assert [Path(r.path).name for r in data.provenance] == ["x.h5", "other.h5"]
    (tmp_path / "raw.bin").write_bytes(bytes(range(256)) * 13)
    stored = open_dataset(h5_external_storage(tmp_path / "e.h5", str(tmp_path / "raw.bin")), allow_external=True)
    assert next(stored.batches()).images.shape == (4, 1, 28, 28)
    assert [Path(r.path).name for r in stored.provenance] == ["e.h5", "raw.bin"]


def test_batches_are_cut_by_the_real_image_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_module, "BATCH_BYTES", 4 * 64 * 64 * 3)  # three 64x64 grey images per batch
    np.save(tmp_path / "a.npy", np.zeros((10, 64, 64), np.uint8))
    sizes = [len(b.images) for b in open_dataset(str(tmp_path / "a.npy"), fit=Fit((1, 8, 8))).batches()]
    assert sizes == [3, 3, 3, 1]
    # The first image is small (8x64, so 24 per batch by its size); every other one is 64x128: cut by headers.
    files = {f"c/{i}.png": png_bytes(np.zeros((64 if i % 2 else 8, 128 if i % 2 else 64), np.uint8)) for i in range(6)}
    folder = open_dataset(class_folder(tmp_path / "d", files), fit=Fit((1, 8, 8)))
    assert [len(b.images) for b in folder.batches()] == [3, 2, 1]
