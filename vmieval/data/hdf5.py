"""Images in an HDF5 file, named as `file.h5:IMAGES[:LABELS]` (IMAGES defaults to `images`).

The images dataset is N x H x W, N x H x W x C or N x C x H x W (C = 1 or 3), uint8 or float in [0, 1],
and is read one batch of rows at a time (h5py slices), so a file larger than memory is fine. Beside it:
- `labels` (or the LABELS name given): a 1-D integer dataset is class labels [N]; a 2-D one [N, F] is
  ground-truth factors, which is how 3D Shapes ships them (`images` N x 64 x 64 x 3 uint8, `labels`
  N x 6 floats, named here floor_hue, wall_hue, object_hue, scale, shape, orientation);
- `factors` [N, F], with names from its `factor_names` attribute or a `factor_names` dataset.

Bounded before reading: every dataset's declared bytes are checked against its stored bytes
(`get_storage_size`, at most `MAX_RATIO`:1: a 2 KB file declaring 10^9 images is refused, as are chunks
never written, which read as fill zeros). Data that leaves the file (an external link, a virtual
dataset, external raw storage) is refused unless `allow_external` (`--allow-external`); allowed, each
file it reads must be a regular file and is listed in the provenance beside the `.h5`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vmieval.data.arrays import ImageFileSource, check_declared, check_side_arrays
from vmieval.data.conform import layout_of, native_shape
from vmieval.data.files import check_regular
from vmieval.errors import DataError, some, terminal_safe

SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_GAP = 8  # indices closer than this are read in one slice


def _names(value: object) -> tuple[str, ...]:
    items = np.asarray(value).reshape(-1)
    return tuple(i.decode(errors="replace") if isinstance(i, bytes) else str(i) for i in items)


_H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)  # what h5py raises on a damaged file


class HDF5Source(ImageFileSource):
    """One images dataset of an HDF5 file plus its labels/factors (module docstring); `split` labels it."""

    def __init__(
        self,
        path: Path,
        split: str,
        images_key: str | None = None,
        labels_key: str | None = None,
        allow_external: bool = False,
    ) -> None:
        import h5py  # imported late: only HDF5 data needs it

        self.path, self.split, self.name = Path(path), split, Path(path).stem
        self.allow_external, self._linked = allow_external, []
        check_regular(self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except _H5_ERRORS as exc:
            raise DataError(f"cannot read {self.path} as HDF5: {_say(exc)}") from None
        try:
            self._describe(images_key or "images", labels_key)
        except _H5_ERRORS as exc:
            self._file.close()
            raise DataError(f"cannot read {self.path}: {_say(exc)}") from None
        except BaseException:
            self._file.close()  # a refused file is not left open (nor locked) behind the error
            raise

    def _describe(self, images_key: str, labels_key: str | None) -> None:
        keys = sorted(self._file.keys())
        self._images = self._dataset(images_key, keys)
        where = f"{self.path}:{terminal_safe(images_key, 60)}"
        if self._images.dtype.kind not in "uifb":
            raise DataError(f"{where}: images must be numbers, got dtype {self._images.dtype}")
        self._layout = layout_of(tuple(self._images.shape), where)
        check_declared(self._images.size * self._images.dtype.itemsize, self._stored(self._images), where)
        self._n = int(self._images.shape[0])
        labels = factors = None
        names: tuple[str, ...] = ()
        if labels_key is not None or "labels" in keys:
            side = self._side(labels_key or "labels", keys)
            if side.ndim == 2:
                factors = side
                if side.shape[1] == len(SHAPES3D_FACTORS) and self._images.shape[1:] == (64, 64, 3):
                    names = SHAPES3D_FACTORS
            else:
                labels = side
        if "factors" in keys:
            factors = self._side("factors", keys)
            if "factor_names" in self._file["factors"].attrs:
                names = _names(_value(self._file["factors"].attrs["factor_names"], f"{self.path}:factors"))
        if "factor_names" in keys:
            names = _names(self._side("factor_names", keys))
        self._labels, self._factors, self.factor_names = check_side_arrays(self._n, labels, factors, names, where)
        self.labelled = self._labels is not None
        self.shape = native_shape(tuple(self._images.shape), self._layout)
        self.description = f"{self.path.name}:{images_key} ({self._n} images {'x'.join(map(str, self.shape))})"

    def _dataset(self, key: str, keys: list[str]):  # noqa: ANN202 - an h5py.Dataset
        """The dataset at `key`: links inside the file followed (a loop is an error), links out of it, virtual
        datasets and external storage only with `allow_external` (their files recorded); no Empty dataspace."""
        import h5py

        where = f"{self.path}:{terminal_safe(key, 60)}"
        link = self._file.get(key, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            self._outside(where, "an external link", [link.filename])
        found = self._file.get(key)
        if not isinstance(found, h5py.Dataset):
            raise DataError(
                f"{self.path} has no dataset {terminal_safe(key, 60)!r}; it holds: {some(keys) or 'nothing'}"
            )
        if found.shape is None or isinstance(found.shape, h5py.Empty):
            raise DataError(f"{where} is an empty dataspace (h5py.Empty); it holds no data")
        if found.is_virtual:
            self._outside(where, "a virtual dataset", sorted({s.file_name for s in found.virtual_sources()}))
        if found.external:
            self._outside(where, "external storage", [name for name, _, _ in found.external])
        return found

    def _outside(self, where: str, what: str, files: list[str | bytes]) -> None:
        """Data stored in other files: refused without `allow_external`; with it, each must be a regular file."""
        names = [f.decode(errors="replace") if isinstance(f, bytes) else str(f) for f in files]
        if not self.allow_external:
            raise DataError(
                f"{where} is {what} reading {some(names, 3)}; pass --allow-external to read data outside the file"
            )
        for name in names:
            if name == ".":  # a virtual dataset's source in the same file
                continue
            other = Path(name) if Path(name).is_absolute() else self.path.parent / name
            self._linked.append(check_regular(other))

    def _stored(self, dataset) -> int:  # noqa: ANN001 - an h5py.Dataset
        """Bytes that back `dataset`: its chunks or contiguous block, or its external/virtual files' size."""
        if dataset.external:
            return sum(min(int(size), max(check_regular(self._resolve(n)).stat().st_size - int(off), 0))
                       for n, off, size in dataset.external)  # fmt: skip
        if dataset.is_virtual:
            return sum(
                self._resolve(s.file_name).stat().st_size for s in dataset.virtual_sources() if s.file_name != "."
            )
        return int(dataset.id.get_storage_size())

    def _resolve(self, name: str | bytes) -> Path:
        name = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
        return Path(name) if Path(name).is_absolute() else self.path.parent / name

    def linked_files(self) -> list[Path]:
        return list(dict.fromkeys(self._linked))

    def _side(self, key: str, keys: list[str]) -> np.ndarray:
        """A labels/factors/names dataset, loaded whole only once its size is known to be honest:
        N rows like the images, and no more bytes than its stored (possibly compressed) chunks hold."""
        dataset = self._dataset(key, keys)
        where = f"{self.path}:{terminal_safe(key, 60)}"
        if key != "factor_names" and (not dataset.shape or dataset.shape[0] != self._n):
            raise DataError(f"{where}: {self._n} images but {key} of shape {dataset.shape} (expected [{self._n}, ...])")
        check_declared(int(dataset.size) * dataset.dtype.itemsize, self._stored(dataset), where)
        try:
            return dataset[()]
        except _H5_ERRORS as exc:
            raise DataError(f"cannot read {where}: {_say(exc)}") from None

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        # Runs of nearby indices are read as slices (h5py's point selection is orders of magnitude slower
        # on large chunked datasets), then the wanted rows picked from each run.
        breaks = np.flatnonzero(np.diff(indices) > _GAP) + 1
        parts = []
        for run in np.split(indices, breaks):
            first = int(run[0])
            try:
                parts.append(self._images[first : int(run[-1]) + 1][run - first])
            except _H5_ERRORS as exc:
                raise DataError(f"cannot read {self.path}: {_say(exc)}") from None
        return np.concatenate(parts)


def _say(exc: BaseException) -> str:
    return terminal_safe(" ".join(str(exc).split()) or type(exc).__name__, 160)


def _value(value: object, where: str) -> object:
    """An attribute's value; an empty one (h5py.Empty) is refused."""
    import h5py

    if isinstance(value, h5py.Empty):
        raise DataError(f"{where}: attribute factor_names is empty (h5py.Empty)")
    return value
