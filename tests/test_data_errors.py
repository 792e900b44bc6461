"""Bad data is one line and exit 5 (DataError), found before any large allocation; dataset identity is
never guessed (foreign names mapped, a --data-dir that does not belong refused, other datasets' official
files refused); the IDX .gz bomb of the hostile-input issue costs nothing."""

from __future__ import annotations

import gzip
import hashlib
import struct
import tracemalloc
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest

from vmieval.data import canonical_name, load_images, open_dataset
from vmieval.data import idx as idx_module
from vmieval.errors import DataError, UsageError


def idx_bytes(array: np.ndarray, dims: tuple[int, ...] | None = None) -> bytes:
    dims = array.shape if dims is None else dims
    return bytes([0, 0, 8, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, images: bytes, labels: bytes, gz: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    for stem, payload in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        (folder / f"{stem}{ext}").write_bytes(gzip.compress(payload) if gz else payload)


def one_line_data_error(call, match: str | None = None) -> str:  # noqa: ANN001
    with pytest.raises(DataError, match=match) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and info.value.exit_code == 5
    return message


@pytest.fixture(autouse=True)
def isolated_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(idx_module.ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(idx_module, "DEBIAN_FASHION_DIR", tmp_path / "debian")


def read_all(text: str, **kwargs: object) -> None:
    for _ in open_dataset(text, **kwargs).batches(4):  # type: ignore[arg-type]
        pass


# -- the bad inputs of the "any data" issue ----------------------------------------------------------
def test_mismatched_label_count(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((5, 4, 4), np.uint8), labels=np.arange(4))
    one_line_data_error(lambda: open_dataset(str(tmp_path / "d.npz")), "5 images but labels")


def test_mismatched_factor_names(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((5, 4, 4), np.uint8), factors=np.zeros((5, 2)), factor_names=["a"])
    one_line_data_error(lambda: open_dataset(str(tmp_path / "d.npz")), "2 factors but 1 factor names")


def test_five_dimensional_array(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 3, 4, 4), np.uint8))
    one_line_data_error(lambda: open_dataset(str(tmp_path / "x.npy")), "5-D")


@pytest.mark.parametrize("shape", [(3, 0, 0), (3, 0, 5, 1)])
def test_zero_sized_images(tmp_path: Path, shape: tuple) -> None:
    np.save(tmp_path / "x.npy", np.zeros(shape, np.uint8))
    one_line_data_error(lambda: open_dataset(str(tmp_path / "x.npy")), "hold nothing")


def test_folder_with_no_images(tmp_path: Path) -> None:
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    (tmp_path / "empty" / "cats" / "notes.txt").write_text("not an image")
    one_line_data_error(lambda: open_dataset(str(tmp_path / "empty")), "no images")
    (tmp_path / "bare").mkdir()
    one_line_data_error(lambda: open_dataset(str(tmp_path / "bare")), "holds no images")


def test_undecodable_image(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "a.png").write_bytes(b"\x89PNG not really")
    one_line_data_error(lambda: open_dataset(str(tmp_path / "f")), "a.png")


def test_unknown_hdf5_key(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["images"] = np.zeros((2, 4, 4), np.uint8)
    message = one_line_data_error(lambda: open_dataset(f"{tmp_path / 'd.h5'}:pixels"), "no dataset 'pixels'")
    assert "images" in message


def test_not_an_hdf5_file(tmp_path: Path) -> None:
    (tmp_path / "d.h5").write_bytes(b"garbage")
    one_line_data_error(lambda: open_dataset(str(tmp_path / "d.h5")), "HDF5")


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    one_line_data_error(lambda: open_dataset(str(tmp_path / "o.npy")), "never unpickles")


def test_float_images_outside_unit_range(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.full((2, 3, 3), 200.0, np.float32))
    one_line_data_error(lambda: read_all(str(tmp_path / "f.npy")), r"\[0, 1\]")


def test_missing_path_and_unknown_name() -> None:
    one_line_data_error(lambda: open_dataset("./nowhere.npz"), "no such file")
    with pytest.raises(UsageError, match="unknown dataset 'imagenet'"):
        open_dataset("imagenet")


# -- IDX: bounded before decompressing -----------------------------------------------------------
def test_gz_bomb_is_refused_after_reading_what_the_header_promises(tmp_path: Path) -> None:
    """A 100-image header over 64 MB of deflated zeros: refused having decompressed ~78 KB."""
    head = idx_bytes(np.zeros(0, np.uint8), dims=(100, 28, 28))
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip container
    body = [deflate.compress(head)] + [deflate.compress(bytes(1 << 20)) for _ in range(64)] + [deflate.flush()]
    bomb = tmp_path / "t10k-images-idx3-ubyte.gz"
    bomb.write_bytes(b"".join(body))
    assert bomb.stat().st_size < 200_000
    tracemalloc.start()
    try:
        one_line_data_error(lambda: idx_module.read_idx(bomb, 3), "padded")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * (1 << 20)


@pytest.mark.parametrize("gz", [True, False])
def test_overflowing_idx_dimensions(tmp_path: Path, gz: bool) -> None:
    big = (2**32 - 1, 2**32 - 1, 2**32 - 1)
    write_mnist(tmp_path, idx_bytes(np.zeros(16, np.uint8), dims=big), idx_bytes(np.zeros(1)), gz=gz)
    one_line_data_error(lambda: load_images("mnist", data_dir=tmp_path), "4294967295")


def test_zero_sized_idx_images(tmp_path: Path) -> None:
    write_mnist(tmp_path, idx_bytes(np.zeros(0, np.uint8), dims=(3, 0, 0)), idx_bytes(np.zeros(3)))
    one_line_data_error(lambda: load_images("mnist", data_dir=tmp_path), "0x0")


def test_corrupt_deflate_stream(tmp_path: Path) -> None:
    payload = idx_bytes(np.random.default_rng(0).integers(0, 256, (20, 28, 28)))
    write_mnist(tmp_path, payload, idx_bytes(np.zeros(20)))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)  # zeroes inside the deflate stream
    path.write_bytes(bytes(raw))
    one_line_data_error(lambda: load_images("mnist", data_dir=tmp_path), "t10k-images")


# -- identity ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spelling", "ours"),
    [("fashion_mnist", "fashion-mnist"), ("FashionMNIST", "fashion-mnist"), ("MNIST", "mnist"),
     ("CIFAR-10", "cifar10"), ("cifar_100", "cifar100"), ("CelebA", "celeba"), ("emnist_letters", "emnist-letters"),
     ("dsprites", None), ("chairs", None)],
)  # fmt: skip
def test_foreign_names_map_to_ours(spelling: str, ours: str | None) -> None:
    assert canonical_name(spelling) == ours


def test_official_files_of_another_dataset_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    write_mnist(tmp_path, images, idx_bytes(np.zeros(3)))
    monkeypatch.setitem(idx_module.KNOWN_CONTENT, hashlib.sha256(images).hexdigest(), ("fashion-mnist", "t10k-images"))
    message = one_line_data_error(lambda: load_images("mnist", data_dir=tmp_path), "official fashion-mnist")
    assert "--data fashion-mnist" in message
    assert len(load_images("fashion-mnist", data_dir=tmp_path)) == 3


@pytest.mark.parametrize("data", ["mnist-sample", "FILE"])
def test_data_dir_that_does_not_belong_is_refused(tmp_path: Path, data: str) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 4, 4), np.uint8))
    text = str(tmp_path / "x.npy") if data == "FILE" else data
    with pytest.raises(UsageError, match="--data-dir"):
        open_dataset(text, data_dir=tmp_path)


def test_provenance_of_idx_files_is_their_stored_hash(tmp_path: Path) -> None:
    write_mnist(tmp_path, idx_bytes(np.zeros((3, 4, 4), np.uint8)), idx_bytes(np.zeros(3)))
    records = load_images("mnist", data_dir=tmp_path).provenance
    assert [Path(r.path).name for r in records] == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    for r in records:
        assert r.sha256 == hashlib.sha256(Path(r.path).read_bytes()).hexdigest()


# -- declared sizes are checked against the bytes present, before anything is allocated ------------
def npy_header(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    import io

    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": dtype, "fortran_order": False, "shape": shape})
    return stream.getvalue()


@pytest.mark.parametrize("member", ["images", "labels"])
def test_npz_member_declaring_more_than_it_holds(tmp_path: Path, member: str) -> None:
    import zipfile

    path = tmp_path / "hostile.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        if member == "images":
            z.writestr("images.npy", npy_header((10**9, 64, 64)) + bytes(4096))
        else:
            z.writestr("images.npy", npy_header((4, 2, 2)) + bytes(16))
            z.writestr("labels.npy", npy_header((10**12,), "<i8") + bytes(64))
    one_line_data_error(lambda: open_dataset(str(path)), "declares")


def test_hdf5_unwritten_huge_datasets_are_refused_by_their_stored_bytes(tmp_path: Path) -> None:
    """An HDF5 file may declare 10^9 never-written images (they would read as fill zeros): the images and
    the labels beside them are refused by declared size against stored bytes, before any read."""
    path = tmp_path / "sparse.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", shape=(10**9, 2, 2), dtype="u1", chunks=(1, 2, 2))
        f.create_dataset("labels", shape=(10**9,), dtype="i8", chunks=(1024,))
    one_line_data_error(lambda: open_dataset(f"{path}:images"), "declares")
    with h5py.File(path, "a") as f:
        del f["labels"]
    one_line_data_error(lambda: open_dataset(f"{path}:images", limit=3, seed=1), "stores 0")


def test_a_split_too_large_for_memory_is_refused_before_allocating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmieval.data import Fit
    from vmieval.data import dataset as dataset_module

    np.save(tmp_path / "x.npy", np.zeros((10, 4, 4), np.uint8))
    one_short = 10 * 64 * 64 * 4 - 1  # one byte short of ten float32 images of 64x64
    monkeypatch.setattr(dataset_module, "available_memory", lambda: one_short)
    data = open_dataset(str(tmp_path / "x.npy"), fit=Fit((1, 64, 64)))
    one_line_data_error(data.to_memory, "--limit or a smaller --image-size")
    assert len(data.select(limit=9).to_memory()) == 9


def test_large_images_shrink_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vmieval.data import Fit
    from vmieval.data import dataset as dataset_module

    np.save(tmp_path / "x.npy", np.zeros((10, 4, 4), np.uint8))
    monkeypatch.setattr(dataset_module, "BATCH_BYTES", 3 * 8 * 8 * 4)
    sizes = [len(b.images) for b in open_dataset(str(tmp_path / "x.npy"), fit=Fit((1, 8, 8))).batches(512)]
    assert sizes == [3, 3, 3, 1]
