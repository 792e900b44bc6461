"""Images in NumPy files: `.npy` (images only) and `.npz` (images plus optional labels and factors).

Layouts: images N x H x W, N x H x W x C or N x C x H x W (C = 1 or 3), uint8 in [0, 255] or float in
[0, 1]. In a `.npz`: `images` (or the key given as `file.npz:KEY`, or the only array), optional
`labels` [N] (integers), `factors` [N, F] and `factor_names` [F] (strings). dSprites' own file
(`imgs`, `latents_classes`, `latents_values`) is read as is: its 0/1 pixel bytes mean black/white, and
its factors are `latents_classes` without the constant colour column, named shape, scale,
orientation, posX, posY (the indices disentanglement_lib uses).

Memory: a `.npy` is opened with `np.load(mmap_mode="r")`, so a batch reads only its own rows. Members of
a `.npz` are zip entries (often deflated) and cannot be memory-mapped; the images member is therefore
*streamed*: its `.npy` header is parsed with numpy's own format helpers and rows are decompressed in
index order, one batch at a time (the Dataset sorts indices, so one pass reads a whole subsample).
Nothing is unpickled: object arrays are refused (`allow_pickle=False` for every `np.load`). A file is
read by its content, not its suffix (a `.npy` named `.npz` is a `.npy`). Sizes are checked before
anything is inflated: a header may not declare more than `MAX_RATIO` times the bytes its member stores.
"""

from __future__ import annotations

import zipfile
import zlib
from abc import abstractmethod
from pathlib import Path
from typing import IO

import numpy as np

from vmieval.data.conform import layout_of, native_shape, to_nchw
from vmieval.data.dataset import MAX_RATIO, FileRecord, RawBatch, Source
from vmieval.data.files import check_regular, file_record
from vmieval.errors import DataError, some, terminal_safe

IMAGE_KEYS = ("images", "imgs")
DSPRITES_FACTORS = ("shape", "scale", "orientation", "posX", "posY")
_SKIP_CHUNK = 1 << 24
NPY_MAGIC = b"\x93NUMPY"
# What a damaged or unusual zip/npy raises: an encrypted member (RuntimeError), deflate64 or another
# method zipfile lacks (NotImplementedError), a bad header (ValueError, struct errors as ValueError).
READ_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, RuntimeError, NotImplementedError, OverflowError,
               zlib.error, zipfile.BadZipFile)  # fmt: skip


def _say(exc: BaseException) -> str:
    return terminal_safe(" ".join(str(exc).split()) or type(exc).__name__, 160)


def read_header(stream: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    """Shape, dtype and Fortran order from a `.npy` header (numpy's own parser), refusing object arrays."""
    try:
        version = np.lib.format.read_magic(stream)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(stream)
    except READ_ERRORS as exc:
        raise DataError(f"{where} is not a readable .npy array: {_say(exc)}") from None
    if dtype.hasobject:
        raise DataError(f"{where} holds Python objects; vmieval never unpickles data")
    if any(int(d) < 0 for d in shape):
        raise DataError(f"{where} declares a negative dimension {tuple(shape)}; the header is corrupt")
    return tuple(int(d) for d in shape), dtype, bool(fortran and len(shape) > 1)


class _NpzMember:
    """Forward-only row reader of one `.npy` member inside a `.npz` (see the module docstring)."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.member = path, f"{key}.npy"
        self._stream: IO[bytes] | None = None
        try:
            self._zip = zipfile.ZipFile(path)
            self._open()
        except READ_ERRORS as exc:
            raise DataError(f"cannot read {terminal_safe(str(path))}:{terminal_safe(key, 60)}: {_say(exc)}") from None

    def _open(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._zip.open(self.member)
        self.shape, self.dtype, fortran = read_header(self._stream, f"{self.path}:{self.member}")
        if fortran:  # rows of a Fortran-ordered array are not contiguous in the stream
            raise DataError(f"{self.path}:{self.member} is stored in Fortran order; save np.ascontiguousarray(images)")
        self.row_bytes = int(np.prod(self.shape[1:], dtype=object)) * self.dtype.itemsize
        if not self.shape:
            raise DataError(f"{self.path}:{self.member} is a scalar, not an array of images")
        info = self._zip.getinfo(self.member)
        check_declared(self.shape[0] * self.row_bytes, info.compress_size, f"{self.path}:{self.member}")
        self._row = 0

    def _skip(self, rows: int) -> None:
        left = rows * self.row_bytes
        while left:
            got = len(self._stream.read(min(left, _SKIP_CHUNK)))  # type: ignore[union-attr]
            if not got:
                raise DataError(f"{self.path}:{self.member} ends before its declared {self.shape[0]} rows")
            left -= got
        self._row += rows

    def _rows(self, count: int) -> np.ndarray:
        raw = self._stream.read(count * self.row_bytes)  # type: ignore[union-attr]
        if len(raw) != count * self.row_bytes:
            raise DataError(f"{self.path}:{self.member} ends before its declared {self.shape[0]} rows")
        self._row += count
        return np.frombuffer(raw, dtype=self.dtype).reshape(count, *self.shape[1:])

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Rows at sorted `indices` (a corrupt stream is a DataError naming the member)."""
        try:
            return self._read(indices)
        except READ_ERRORS as exc:
            raise DataError(f"cannot read {self.path}:{terminal_safe(self.member, 60)}: {_say(exc)}") from None

    def _read(self, indices: np.ndarray) -> np.ndarray:
        """One read when the indices are dense, else row by row, skipping between."""
        if indices[0] < self._row:
            self._open()
        self._skip(int(indices[0]) - self._row)
        span = int(indices[-1]) - int(indices[0]) + 1
        if span <= 2 * len(indices):
            return self._rows(span)[indices - indices[0]]
        out = np.empty((len(indices), *self.shape[1:]), dtype=self.dtype)
        for i, index in enumerate(indices):
            self._skip(int(index) - self._row)
            out[i] = self._rows(1)[0]
        return out


def _load(path: Path, mmap: bool = False) -> np.ndarray | np.lib.npyio.NpzFile:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except READ_ERRORS as exc:
        raise DataError(f"cannot read {path} as a NumPy file: {_say(exc)}") from None


def check_declared(declared: int, stored: int, where: str) -> None:
    """Refuse a header that declares more than `MAX_RATIO` times the bytes stored (4 KB of slack for tiny
    arrays): such a file is all fill value or a decompression bomb, never a dataset."""
    if declared > MAX_RATIO * stored + (4096 if stored else 0):  # nothing stored: never written, all fill
        raise DataError(
            f"{terminal_safe(where)} declares {declared} bytes of data but stores {stored}, more than "
            f"{MAX_RATIO}:1 compression; the file is corrupt or hostile"
        )


def _member(npz: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    """A small member (labels, factors, names), loaded whole once its header is checked against its size."""
    try:
        info = npz.zip.getinfo(f"{key}.npy")
        with npz.zip.open(info) as stream:
            shape, dtype, _ = read_header(stream, f"{path}:{key}")
        check_declared(int(np.prod(shape, dtype=object)) * dtype.itemsize, info.compress_size, f"{path}:{key}")
        return npz[key]
    except READ_ERRORS as exc:
        raise DataError(f"cannot read {terminal_safe(key, 60)!r} from {path}: {_say(exc)}") from None


def check_side_arrays(
    n: int, labels: np.ndarray | None, factors: np.ndarray | None, names: tuple[str, ...], where: str
) -> tuple[np.ndarray | None, np.ndarray | None, tuple[str, ...]]:
    """Labels [N] and factors [N, F] (+ F names) that agree with N images; shared with the HDF5 source."""
    if labels is not None:
        if labels.dtype.kind not in "iubf":
            raise DataError(f"{where}: labels must be whole class numbers, got dtype {labels.dtype}")
        if labels.ndim != 1 or labels.shape[0] != n:
            raise DataError(f"{where}: {n} images but labels of shape {labels.shape} (expected [{n}])")
    if factors is not None:
        if factors.ndim == 1:
            factors = factors[:, None]
        if factors.ndim != 2 or factors.shape[0] != n:
            raise DataError(f"{where}: {n} images but factors of shape {factors.shape} (expected [{n}, F])")
        if factors.dtype.kind not in "iubf":
            raise DataError(f"{where}: factors must be numbers, got dtype {factors.dtype}")
        if not names:
            names = tuple(f"factor_{i}" for i in range(factors.shape[1]))
        if len(names) != factors.shape[1]:
            raise DataError(f"{where}: {factors.shape[1]} factors but {len(names)} factor names")
        names = tuple(terminal_safe(name, 64) for name in names)  # they name table columns and HDF5 rows
    return labels, factors, names if factors is not None else ()


def _dsprites_factors(classes: np.ndarray, path: Path) -> np.ndarray:
    """dSprites' latents_classes [N, 6] without its constant colour column; any other shape is refused."""
    if classes.ndim != 2 or classes.shape[1] != len(DSPRITES_FACTORS) + 1:
        raise DataError(
            f"{path}: dSprites' latents_classes must be [N, {len(DSPRITES_FACTORS) + 1}], got shape {classes.shape}"
        )
    return classes[:, 1:]


class ImageFileSource(Source):
    """One file holding an images array in `_layout` [N, ...] and optional labels [N] / factors [N, F]
    beside it; subclasses (`.npy`/`.npz` here, HDF5) set `path`, `_layout`, `_n`, `_labels`, `_factors`
    and say how to read rows."""

    path: Path
    _layout: str
    _n: int
    _labels: np.ndarray | None
    _factors: np.ndarray | None

    @abstractmethod
    def _rows(self, indices: np.ndarray) -> np.ndarray:
        """The stored image rows at `indices` (sorted, unique), in the file's own layout."""

    def __len__(self) -> int:
        return self._n

    def read(self, indices: np.ndarray) -> RawBatch:
        return RawBatch(
            to_nchw(self._rows(indices), self._layout),
            None if self._labels is None else self._labels[indices],
            None if self._factors is None else self._factors[indices],
        )

    def files(self) -> list[FileRecord]:
        return [file_record(self.path), *(file_record(p) for p in self.linked_files())]

    def linked_files(self) -> list[Path]:
        """Other files this one makes us read (HDF5 external storage, links); none for NumPy files."""
        return []

    def origin(self) -> str:
        return str(self.path)


class ArraySource(ImageFileSource):
    """Images from a `.npy` or `.npz` (layouts in the module docstring); `split` only labels the file."""

    def __init__(self, path: Path, split: str, key: str | None = None) -> None:
        self.path, self.split = Path(path), split
        check_regular(self.path)
        self.name = self.path.stem
        labels = factors = None
        names: tuple[str, ...] = ()
        with open(self.path, "rb") as stream:
            is_npy = stream.read(len(NPY_MAGIC)) == NPY_MAGIC  # the content decides, not the suffix
        if is_npy:
            if key is not None:
                raise DataError(f"{self.path}: a .npy holds one array; drop ':{terminal_safe(key, 60)}'")
            with open(self.path, "rb") as stream:
                shape, kind, _ = read_header(stream, str(self.path))  # objects refused by our check, not by a mmap
            check_declared(int(np.prod(shape, dtype=object)) * kind.itemsize, self.path.stat().st_size, str(self.path))
            self._images = _load(self.path, mmap=True)
            self._member: _NpzMember | None = None
        else:
            npz = _load(self.path)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise DataError(f"{self.path} is not a NumPy .npy or .npz file")
            keys = list(npz.files)
            key = key or next((k for k in IMAGE_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None or key not in keys:
                want = repr(terminal_safe(key, 60)) if key else f"one of {', '.join(IMAGE_KEYS)}"
                raise DataError(f"{self.path} has no images array {want}; it holds: {some(keys) or 'nothing'}")
            self._member = _NpzMember(self.path, key)
            shape, kind = self._member.shape, self._member.dtype
            if key == "imgs" and "latents_classes" in keys:  # dSprites
                self.pixel_max = 1.0
                factors = _dsprites_factors(_member(npz, "latents_classes", self.path), self.path)
                names = DSPRITES_FACTORS
            else:
                labels = _member(npz, "labels", self.path) if "labels" in keys else None
                factors = _member(npz, "factors", self.path) if "factors" in keys else None
                if "factor_names" in keys:
                    names = tuple(str(n) for n in _member(npz, "factor_names", self.path).reshape(-1))
        where = str(self.path)
        if kind.kind not in "uifb":
            raise DataError(f"{where}: images must be numbers, got dtype {kind}")
        self._layout = layout_of(tuple(shape), where)
        self._n = int(shape[0])
        self._labels, self._factors, self.factor_names = check_side_arrays(self._n, labels, factors, names, where)
        self.labelled = self._labels is not None
        self.shape = native_shape(tuple(shape), self._layout)
        self.description = f"{self.path.name} ({self._n} images {'x'.join(map(str, self.shape))})"

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        if self._member is not None:
            return self._member.read(indices)
        if len(indices) and indices[-1] - indices[0] + 1 == len(indices):
            return self._images[indices[0] : indices[-1] + 1]  # a slice of the memmap: reads only these rows
        return self._images[indices]
