"""From what a user typed (`--data`, a recorded dataset name) to a Dataset, never guessing silently.

`--data` takes a dataset name (`mnist`, `fashion-mnist`, `mnist-sample`, `kmnist`, `emnist[-VARIANT]`,
`cifar10`, `cifar100`, `svhn`, `celeba`, and the generated `sprites`, `sprites-rgb`), a `.npy`/`.npz`
file (`file.npz:KEY` picks the images array), an image folder, or an HDF5 file as
`file.h5:IMAGES[:LABELS]`. A name wins over a path of the same spelling; write `./mnist` for a folder
called mnist.

Foreign spellings of our names (JointVAE's `fashion_mnist`, torchvision's `FashionMNIST`, `CIFAR-10`)
map to ours by `canonical_name`; a name that maps to nothing is an error, not a fallback to MNIST.
`data_dir` belongs to named datasets on disk: given with a file, a folder or the shipped sample it is
refused rather than ignored.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from vmieval.choices import DATASETS, SPLITS, SYNTHETIC_DATASETS
from vmieval.data.arrays import ArraySource
from vmieval.data.conform import Fit, check_side, convert
from vmieval.data.dataset import Dataset, ImageData, Source
from vmieval.data.files import check_not_system
from vmieval.data.hdf5 import HDF5_SUFFIXES, HDF5Source
from vmieval.data.idx import IDX_DATASETS, IdxSource
from vmieval.data.torchvision_sets import EMNIST_VARIANTS, TorchvisionSource
from vmieval.errors import DataError, UsageError
from vmieval.spec import ModelSpec

_ARRAY_SUFFIXES = (".npy", ".npz")
_KEYED = re.compile(r"^(?P<path>.+?\.(?:npz|h5|hdf5|hdf|he5))(?::(?P<key>[^:]+))?(?::(?P<labels>[^:]+))?$", re.I)
_ALIASES = {
    "mnist": "mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "fashion": "fashion-mnist",
    "mnistsample": "mnist-sample",
    "kmnist": "kmnist",
    "emnist": "emnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "svhn": "svhn",
    "celeba": "celeba",
    "sprites": "sprites",
    "spritesrgb": "sprites-rgb",
    **{f"emnist{v}": f"emnist-{v}" for v in EMNIST_VARIANTS},
}


def canonical_name(text: str) -> str | None:
    """Our name for a dataset spelled any common way (case, '-', '_', ' ' ignored), else None."""
    return _ALIASES.get(re.sub(r"[\s_\-.]", "", str(text).lower()))


@dataclass(frozen=True)
class DataRef:
    """What `--data` named: a dataset `name`, or a `path` of `kind` array/folder/hdf5 with keys."""

    kind: str  # "named" | "array" | "folder" | "hdf5"
    name: str | None = None
    path: Path | None = None
    key: str | None = None
    labels_key: str | None = None


def parse_data(text: str) -> DataRef:
    """Classify `--data TEXT` (module docstring); an unknown name or a missing path is one line."""
    if not str(text).strip():
        raise UsageError("--data is empty; give a dataset name, a .npz/.npy file, a folder or file.h5:images")
    if (name := canonical_name(text)) is not None:
        return DataRef("named", name=name)
    keyed = _KEYED.match(str(text))
    path = Path(keyed["path"] if keyed else text).expanduser()
    key, labels = (keyed["key"], keyed["labels"]) if keyed else (None, None)
    suffix = path.suffix.lower()
    if suffix in _ARRAY_SUFFIXES:
        kind = "array"
    elif suffix in HDF5_SUFFIXES:
        kind = "hdf5"
    elif path.is_dir():
        kind = "folder"
    elif path.exists():
        raise DataError(f"{path}: not a dataset vmieval reads (.npy, .npz, .h5/.hdf5, or a folder of images)")
    elif "/" in str(text) or "." in str(text):
        raise DataError(f"no such file or folder: {path}")
    else:
        raise UsageError(f"unknown dataset {text!r}; choose one of {', '.join(DATASETS)}, or give a file or folder")
    if labels is not None and kind != "hdf5":
        raise UsageError(f"{text!r}: only HDF5 files take a labels name after the images key")
    return DataRef(kind, path=path, key=key, labels_key=labels)


def open_source(
    data: str | DataRef,
    split: str = "test",
    data_dir: str | Path | None = None,
    download: bool = False,
    allow_external: bool = False,
) -> Source:
    """The source `data` names, with `data_dir` checked to belong to it; `allow_external` lets an HDF5
    file read data stored in other files (docs/data.md, "Bad input")."""
    ref = parse_data(data) if isinstance(data, str) else data
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if data_dir is not None and (ref.kind != "named" or ref.name == "mnist-sample"):
        what = "the shipped mnist-sample" if ref.kind == "named" else f"{ref.path}"
        raise UsageError(f"--data-dir {data_dir} does not apply to {what}: it locates named datasets' files")
    if download and ref.kind != "named":
        raise UsageError("--download fetches named datasets only; a file or folder is read where it is")
    if ref.kind == "named":
        assert ref.name is not None
        if ref.name in SYNTHETIC_DATASETS:  # generated from a seed: nothing to locate or download
            from vmieval.synthetic.source import SpriteSource

            if data_dir is not None:
                raise UsageError(f"--data-dir {data_dir} does not apply to {ref.name}: it is generated, not read")
            return SpriteSource(ref.name, split)
        if ref.name in IDX_DATASETS:
            return IdxSource(ref.name, split, data_dir, download)
        return TorchvisionSource(ref.name, split, data_dir, download)
    assert ref.path is not None
    if ref.kind == "array":
        return ArraySource(ref.path, split, ref.key)
    if ref.kind == "hdf5":
        return HDF5Source(ref.path, split, ref.key, ref.labels_key, allow_external)
    check_not_system(Path(os.path.realpath(ref.path)), ref.path)
    from vmieval.data.folder import FolderSource  # imported late: torchvision's image I/O

    return FolderSource(ref.path, split)


def open_dataset(
    data: str | DataRef,
    split: str = "test",
    data_dir: str | Path | None = None,
    download: bool = False,
    limit: int | None = None,
    seed: int | None = None,
    fit: Fit | None = None,
    allow_external: bool = False,
) -> Dataset:
    """A streaming Dataset: `limit` images (the first, or a `seed`ed draw), converted per batch by `fit`.

    For a model, pass `fit=Fit.for_spec(model.spec)`; the batches are then exactly what it takes.
    """
    if limit is not None and limit < 0:
        raise UsageError(f"limit must be zero or more images, got {limit}")
    return Dataset(open_source(data, split, data_dir, download, allow_external), fit).select(limit, seed)


def load_images(
    name: str,
    split: str = "test",
    data_dir: str | Path | None = None,
    download: bool = False,
    image_size: int | None = None,
    limit: int | None = None,
    seed: int | None = None,
) -> ImageData:
    """Load a split into memory as float32 [N, C, H, W] in [0, 1] (what MNIST-sized commands use).

    `name` is anything `--data` takes. `image_size` resizes to a square (e.g. 32 for models trained on
    resized MNIST); `limit` keeps the first N images (or N drawn with `seed`), before any conversion.
    """
    if image_size is not None:
        check_side(image_size)
    dataset = open_dataset(name, split, data_dir, download, limit, seed, Fit.square(image_size))
    return dataset.to_memory()


def fit_to_spec(data: ImageData, spec: ModelSpec, rgb_to_grey: bool = False) -> ImageData:
    """Adapt held images in [0, 1] to the model's spec (size, channels, range; rules in conform.py).

    Returns `data` itself when it already fits, so callers can tell whether anything changed.
    """
    fit = Fit.for_spec(spec, rgb_to_grey)
    if tuple(data.images.shape[1:]) == fit.shape and fit.value_range == (0.0, 1.0):
        return data
    return data.replace_images(convert(data.images, 1.0, fit, data.description or data.name))
