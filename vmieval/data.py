"""Image datasets for evaluation: MNIST, Fashion-MNIST and a small MNIST sample shipped in the repo.

We read the IDX files ourselves (numpy, gzipped or not) instead of going through torchvision's
dataset classes, because users keep these files in many layouts (a flat folder, Debian's
`/usr/share/datasets/fashion-mnist`, torchvision's `root/MNIST/raw`) and because a truncated or
mislabelled file must become a one-line `DataError`, not a traceback from deep inside torchvision.
torchvision is used only for `download=True`, and nothing is ever downloaded without that flag.

Where a dataset is looked for, in order:
1. `data_dir` when given, and only there (the user said where it is);
2. otherwise `$VMIEVAL_DATA`, then (Fashion-MNIST only) `/usr/share/datasets/fashion-mnist`,
   then `~/.cache/vmieval`, where `download=True` puts files when no `data_dir` is given.
Within each root the files may lie directly in it or in the subfolders named in `_SUBDIRS`.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vmieval.errors import DataError, UsageError
from vmieval.spec import ModelSpec

DATASETS = ("mnist", "fashion-mnist", "mnist-sample")
SPLITS = ("train", "test")
ENV_VAR = "VMIEVAL_DATA"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# The sample is 3000 images cut from the start of the MNIST *training* files (fixtures/README.md).
# Its "train" split is the first 2500 and its "test" split the last 500: a disjoint pair that is
# enough for fast tests, but its test split is not the official MNIST test set.
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "mnist-sample"
SAMPLE_SIZE = 3000
SAMPLE_TRAIN_SIZE = 2500

_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
}
_FILE_PREFIX = {"train": "train", "test": "t10k"}
_UBYTE = 0x08  # IDX type code for unsigned bytes, the only one MNIST-like files use


@dataclass(frozen=True, eq=False)
class ImageData:
    """A split held in memory: `images` float32 [N, 1, H, W] in [0, 1], `labels` int64 [N].

    `source` is the images file it was read from, so results can record which copy was used.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def default_cache_dir() -> Path:
    """Where `download=True` stores files when no data_dir is given."""
    return Path.home() / ".cache" / "vmieval"


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (optionally .gz) with `ndim` dimensions into a uint8 array.

    The header is two zero bytes, the type code, the number of dimensions, then each dimension
    as a big-endian uint32; the payload must be exactly their product in bytes, so a truncated
    download is caught here rather than as a reshape error later.
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as stream:
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:4] != bytes([0, 0, _UBYTE, ndim]):
        raise DataError(
            f"{path} is not an IDX file of {ndim}-d unsigned bytes "
            f"(magic {raw[:4].hex() or 'missing'}, expected 000008{ndim:02x})"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise DataError(
            f"{path} is truncated or padded: header {dims} needs {expected} bytes "
            f"after the header, found {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _idx_file(folder: Path, stem: str) -> Path | None:
    """The plain file if present (torchvision leaves both), else the gzipped one, else None."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _find_pair(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The images and labels files of `split` in `folder`, only if both are there."""
    prefix = _FILE_PREFIX[split]
    images = _idx_file(folder, f"{prefix}-images-idx3-ubyte")
    labels = _idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    return (images, labels) if images and labels else None


def _candidate_dirs(name: str, roots: list[Path]) -> list[Path]:
    """Every folder to try, in order: each root itself, then its dataset-specific subfolders."""
    return [folder for root in roots for folder in (root, *(root / s for s in _SUBDIRS[name]))]


def _search_roots(name: str, data_dir: str | Path | None) -> list[Path]:
    """The roots for `name` in the documented order (see the module docstring)."""
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    roots = [Path(os.environ[ENV_VAR]).expanduser()] if os.environ.get(ENV_VAR) else []
    if name == "fashion-mnist":
        roots.append(DEBIAN_FASHION_DIR)
    roots.append(default_cache_dir())
    return roots


def _missing_message(name: str, split: str, searched: list[Path]) -> str:
    """One line: what was missing, every folder tried, and the ways to fix it."""
    prefix = _FILE_PREFIX[split]
    fixes = f"pass --data-dir DIR, set {ENV_VAR}=DIR, or pass --download"
    if name == "fashion-mnist":
        fixes += ", or run `apt-get install dataset-fashion-mnist`"
    return (
        f"{name} {split} split not found ({prefix}-images-idx3-ubyte[.gz] and "
        f"{prefix}-labels-idx1-ubyte[.gz]); looked in: {', '.join(map(str, searched))}; {fixes}"
    )


def _download(name: str, root: Path) -> None:
    """Fetch both splits with torchvision into `root/MNIST/raw` or `root/FashionMNIST/raw`."""
    from torchvision import datasets  # imported late: only downloads need it

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    try:
        cls(str(root), train=True, download=True)
    except (
        RuntimeError,
        OSError,
    ) as exc:  # what torchvision raises for network/disk failures
        message = " ".join(str(exc).split())
        raise DataError(f"downloading {name} into {root} failed: {message}") from None


def _locate(name: str, split: str, data_dir: str | Path | None, download: bool) -> tuple[Path, Path]:
    """Find the files of a real dataset, downloading them first only when asked to."""
    searched = _candidate_dirs(name, _search_roots(name, data_dir))
    for folder in searched:
        if found := _find_pair(folder, split):
            return found
    if download:
        root = Path(data_dir).expanduser() if data_dir is not None else default_cache_dir()
        _download(name, root)
        for folder in _candidate_dirs(name, [root]):
            if found := _find_pair(folder, split):
                return found
    raise DataError(_missing_message(name, split, searched))


def _read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching images [N, H, W] and labels [N], refusing files that disagree on N."""
    images = read_idx(images_path, ndim=3)
    labels = read_idx(labels_path, ndim=1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels"
        )
    return images, labels


def _read_sample(split: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """The shipped sample, split 2500 / 500 (see SAMPLE_DIR above)."""
    found = _find_pair(SAMPLE_DIR, "train")
    if found is None:
        raise DataError(
            f"the mnist-sample files are missing from {SAMPLE_DIR}; reinstall vmieval from a "
            "source checkout (pip install -e .) or use --dataset mnist"
        )
    images, labels = _read_pair(*found)
    if images.shape[0] != SAMPLE_SIZE:
        raise DataError(f"{found[0]} should hold {SAMPLE_SIZE} images, found {images.shape[0]}")
    part = slice(None, SAMPLE_TRAIN_SIZE) if split == "train" else slice(SAMPLE_TRAIN_SIZE, None)
    return images[part], labels[part], found[0]


def _check_arguments(name: str, split: str, image_size: int | None, limit: int | None) -> None:
    """Reject values a user can mistype on the command line before touching the disk."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if image_size is not None and image_size < 1:
        raise UsageError(f"image size must be a positive number of pixels, got {image_size}")
    if limit is not None and limit < 0:
        raise UsageError(f"limit must be zero or more images, got {limit}")


def _to_tensor(images: np.ndarray, image_size: int | None) -> torch.Tensor:
    """uint8 [N, H, W] -> float32 [N, 1, S, S] in [0, 1], resized when the model wants S != H.

    Antialiasing matters only when shrinking; the clamp guards the [0, 1] range that
    Bernoulli-likelihood decoders assume.
    """
    x = torch.from_numpy(images.copy()).to(torch.float32).div_(255.0).unsqueeze(1)
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True)
        x = x.clamp_(0.0, 1.0)
    return x


def load_images(
    name: str,
    split: str = "test",
    data_dir: str | Path | None = None,
    download: bool = False,
    image_size: int | None = None,
    limit: int | None = None,
) -> ImageData:
    """Load one split of a dataset in `DATASETS` as tensors ready for a model.

    `image_size` resizes to a square (e.g. 32 for models trained on padded/resized MNIST);
    `limit` keeps the first N images, applied before resizing so small runs stay cheap.
    `data_dir` and `download` are ignored for "mnist-sample", which is always read from the repo.
    """
    _check_arguments(name, split, image_size, limit)
    if name == "mnist-sample":
        images, labels, source = _read_sample(split)
    else:
        images_path, labels_path = _locate(name, split, data_dir, download)
        images, labels = _read_pair(images_path, labels_path)
        source = images_path
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return ImageData(
        images=_to_tensor(images, image_size),
        labels=torch.from_numpy(labels.astype(np.int64)),
        name=name,
        split=split,
        source=str(source),
    )


def fetch_dataset(name: str, data_dir: str | Path | None = None) -> None:
    """Make both splits of `name` available (downloading only what is missing), before a long run."""
    for split in SPLITS:
        load_images(name, split, data_dir=data_dir, download=True, limit=1)


def fit_to_spec(data: ImageData, spec: ModelSpec) -> ImageData:
    """Resize a split to the model's observation size (e.g. MNIST 28x28 -> JointVAE's 32x32).

    Lets commands infer `--image-size` from the checkpoint's spec. Only the spatial size is adapted,
    with the same resampling as `image_size`; a channel mismatch is a DataError (no silent colour
    conversion). The data are returned unchanged when they already fit.
    """
    channels, height, width = spec.observation_shape
    images = data.images
    if images.shape[1] != channels:
        raise DataError(
            f"{data.name} images have {images.shape[1]} channel(s) but the model expects {channels}; "
            f"use a dataset with {channels}-channel images"
        )
    if tuple(images.shape[-2:]) == (height, width):
        return data
    resized = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True).clamp_(0.0, 1.0)
    return ImageData(images=resized, labels=data.labels, name=data.name, split=data.split, source=data.source)
