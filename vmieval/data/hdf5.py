"""Images in an HDF5 file, named as `file.h5:IMAGES[:LABELS]` (IMAGES defaults to `images`).

The images dataset is N x H x W, N x H x W x C or N x C x H x W (C = 1 or 3), uint8 or float in [0, 1],
and is read one batch of rows at a time (h5py slices), so a file larger than memory is fine. Beside it:
- `labels` (or the LABELS name given): a 1-D integer dataset is class labels [N]; a 2-D one [N, F] is
  ground-truth factors, which is how 3D Shapes ships them (`images` N x 64 x 64 x 3 uint8, `labels`
  N x 6 floats, named here floor_hue, wall_hue, object_hue, scale, shape, orientation);
- `factors` [N, F], with names from its `factor_names` attribute or a `factor_names` dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vmieval.data.arrays import ImageFileSource, check_declared, check_side_arrays
from vmieval.data.conform import layout_of, native_shape
from vmieval.errors import DataError

SHAPES3D_FACTORS = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")
_GAP = 8  # indices closer than this are read in one slice


def _names(value: object) -> tuple[str, ...]:
    items = np.asarray(value).reshape(-1)
    return tuple(i.decode() if isinstance(i, bytes) else str(i) for i in items)


class HDF5Source(ImageFileSource):
    """One images dataset of an HDF5 file plus its labels/factors (module docstring); `split` labels it."""

    def __init__(self, path: Path, split: str, images_key: str | None = None, labels_key: str | None = None) -> None:
        import h5py  # imported late: only HDF5 data needs it

        self.path, self.split, self.name = Path(path), split, Path(path).stem
        if not self.path.is_file():
            raise DataError(f"no such file: {self.path}")
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataError(f"cannot read {self.path} as HDF5: {' '.join(str(exc).split())}") from None
        try:
            self._describe(images_key or "images", labels_key)
        except BaseException:
            self._file.close()  # a refused file is not left open (nor locked) behind the error
            raise

    def _describe(self, images_key: str, labels_key: str | None) -> None:
        keys = sorted(self._file.keys())
        self._images = self._dataset(images_key, keys)
        where = f"{self.path}:{images_key}"
        if self._images.dtype.kind not in "uifb":
            raise DataError(f"{where}: images must be numbers, got dtype {self._images.dtype}")
        self._layout = layout_of(tuple(self._images.shape), where)
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
                names = _names(self._file["factors"].attrs["factor_names"])
        if "factor_names" in keys:
            names = _names(self._side("factor_names", keys))
        self._labels, self._factors, self.factor_names = check_side_arrays(self._n, labels, factors, names, where)
        self.labelled = self._labels is not None
        self.shape = native_shape(tuple(self._images.shape), self._layout)
        self.description = f"{self.path.name}:{images_key} ({self._n} images {'x'.join(map(str, self.shape))})"

    def _dataset(self, key: str, keys: list[str]):  # noqa: ANN202 - an h5py.Dataset
        import h5py

        found = self._file.get(key)
        if not isinstance(found, h5py.Dataset):
            raise DataError(f"{self.path} has no dataset {key!r}; it holds: {', '.join(keys) or 'nothing'}")
        return found

    def _side(self, key: str, keys: list[str]) -> np.ndarray:
        """A labels/factors/names dataset, loaded whole only once its size is known to be honest:
        N rows like the images, and no more bytes than its stored (possibly compressed) chunks hold."""
        dataset = self._dataset(key, keys)
        where = f"{self.path}:{key}"
        if key != "factor_names" and (not dataset.shape or dataset.shape[0] != self._n):
            raise DataError(f"{where}: {self._n} images but {key} of shape {dataset.shape} (expected [{self._n}, ...])")
        check_declared(int(dataset.size) * dataset.dtype.itemsize, dataset.id.get_storage_size(), where)
        try:
            return dataset[()]
        except (OSError, ValueError, TypeError) as exc:
            raise DataError(f"cannot read {where}: {' '.join(str(exc).split())}") from None

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        # Runs of nearby indices are read as slices (h5py's point selection is orders of magnitude slower
        # on large chunked datasets), then the wanted rows picked from each run.
        breaks = np.flatnonzero(np.diff(indices) > _GAP) + 1
        parts = []
        for run in np.split(indices, breaks):
            first = int(run[0])
            parts.append(self._images[first : int(run[-1]) + 1][run - first])
        return np.concatenate(parts)
