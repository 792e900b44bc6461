"""The MNIST family in IDX files: MNIST, Fashion-MNIST and the small MNIST sample shipped in the repo.

We read the IDX files ourselves (numpy, gzipped or not) instead of going through torchvision's
dataset classes, because users keep these files in many layouts (a flat folder, Debian's
`/usr/share/datasets/fashion-mnist`, torchvision's `root/MNIST/raw`) and because a truncated,
mislabelled or hostile file must become a one-line `DataError`, not a traceback or gigabytes of RAM.
torchvision is used only for `download=True`, and nothing is ever downloaded without that flag.

Where a dataset is looked for, in order:
1. `data_dir` when given, and only there (the user said where it is);
2. otherwise `$VMIEVAL_DATA`, then (Fashion-MNIST only) `/usr/share/datasets/fashion-mnist`,
   then `~/.cache/vmieval`, where `download=True` puts files when no `data_dir` is given.
Within each root the files may lie directly in it or in the subfolders named in `_SUBDIRS`.

Identity: MNIST and Fashion-MNIST files have the same names, so the sha256 of each file's
*uncompressed* content is compared with the official files' (`KNOWN_CONTENT`); official files of the
other dataset are refused instead of being scored under the wrong name. Unknown content (a user's own
IDX files) is accepted and recorded in the provenance.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vmieval.choices import IDX_DATASETS
from vmieval.data.dataset import MAX_DEFLATE_RATIO, FileRecord, RawBatch, Source
from vmieval.data.files import check_regular, file_record
from vmieval.errors import DataError, UsageError

IDX_SPLITS = ("train", "test")
ENV_VAR = "VMIEVAL_DATA"
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# The sample is 3000 images cut from the start of the MNIST *training* files (fixtures/README.md).
# Its "train" split is the first 2500 and its "test" split the last 500: a disjoint pair that is
# enough for fast tests, but its test split is not the official MNIST test set.
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "mnist-sample"
SAMPLE_SIZE = 3000
SAMPLE_TRAIN_SIZE = 2500

_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
}
_FILE_PREFIX = {"train": "train", "test": "t10k"}
_UBYTE = 0x08  # IDX type code for unsigned bytes, the only one MNIST-like files use
_CHUNK = 1 << 22  # decompress 4 MB at a time

# sha256 of the official uncompressed files -> (dataset, file stem).
KNOWN_CONTENT = {
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db": ("mnist", "train-images"),
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5": ("mnist", "train-labels"),
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7": ("mnist", "t10k-images"),
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2": ("mnist", "t10k-labels"),
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888": ("fashion-mnist", "train-images"),
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9": ("fashion-mnist", "train-labels"),
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b": ("fashion-mnist", "t10k-images"),
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34": ("fashion-mnist", "t10k-labels"),
}


def default_cache_dir() -> Path:
    """Where `download=True` stores files when no data_dir is given."""
    return Path.home() / ".cache" / "vmieval"


def _read_exactly(stream: BinaryIO, size: int) -> tuple[np.ndarray, int, bool]:
    """Read up to `size` bytes into one buffer of that size, in chunks (never one giant read):
    the buffer, how many bytes came, and whether more bytes follow."""
    out = np.empty(size, dtype=np.uint8)
    view, got = memoryview(out), 0
    while got < size:
        n = stream.readinto(view[got : got + _CHUNK])
        if not n:
            break
        got += n
    return out, got, bool(stream.read(1))


def read_idx_with_digest(path: Path, ndim: int) -> tuple[np.ndarray, str]:
    """Read an unsigned-byte IDX file (optionally .gz) with `ndim` dimensions: uint8 array, content sha256.

    The header is two zero bytes, the type code, the number of dimensions, then each dimension as a
    big-endian uint32. The header is read and checked *before* the payload: its size must fit what the
    file can hold (the file size, or for .gz the deflate bound 1032 x the compressed size), and only
    that many bytes are ever decompressed, so a small .gz that inflates to gigabytes costs nothing.
    The payload must be exactly the product of the dimensions (a truncated download is caught here).
    """
    gz = path.suffix == ".gz"
    check_regular(path)
    try:
        stored = path.stat().st_size
        with gzip.open(path) if gz else open(path, "rb") as stream:
            head = stream.read(4 + 4 * ndim)
            if len(head) < 4 + 4 * ndim or head[:4] != bytes([0, 0, _UBYTE, ndim]):
                raise DataError(
                    f"{path} is not an IDX file of {ndim}-d unsigned bytes "
                    f"(magic {head[:4].hex() or 'missing'}, expected 000008{ndim:02x})"
                )
            dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
            if ndim == 3 and (dims[1] == 0 or dims[2] == 0):
                raise DataError(f"{path}: its header declares {dims[1]}x{dims[2]} images, which hold nothing")
            expected = 1
            for d in dims:
                expected *= d
            if not gz and expected != stored - len(head):
                raise DataError(
                    f"{path} is truncated or padded: header {dims} needs {expected} bytes "
                    f"after the header, found {stored - len(head)}"
                )
            if gz and expected > MAX_DEFLATE_RATIO * stored:
                raise DataError(
                    f"{path}: its header declares {' x '.join(map(str, dims))} = {expected} bytes, more than "
                    f"the {stored}-byte file can hold; the file is corrupt or hostile"
                )
            payload, got, more = _read_exactly(stream, expected)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if got != expected or more:
        found = f"{got}" if not more else "more"
        raise DataError(
            f"{path} is truncated or padded: header {dims} needs {expected} bytes after the header, found {found}"
        )
    digest = hashlib.sha256(head)
    digest.update(payload)
    return payload.reshape(dims), digest.hexdigest()


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """`read_idx_with_digest` without the digest."""
    return read_idx_with_digest(path, ndim)[0]


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
    except (RuntimeError, OSError) as exc:  # what torchvision raises for network/disk failures
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


def _check_identity(name: str, path: Path, digest: str) -> None:
    """Refuse the official files of another dataset read under this dataset's name."""
    known = KNOWN_CONTENT.get(digest)
    if known is not None and known[0] != name and name != "mnist-sample":
        raise DataError(
            f"{path} holds the official {known[0]} {known[1]} file, not {name}; "
            f"pass --data {known[0]} (or point --data-dir at the {name} files)"
        )


def _read_pair(name: str, images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read matching images [N, H, W] and labels [N], refusing files that disagree on N or identity."""
    images, images_digest = read_idx_with_digest(images_path, ndim=3)
    labels, labels_digest = read_idx_with_digest(labels_path, ndim=1)
    _check_identity(name, images_path, images_digest)
    _check_identity(name, labels_path, labels_digest)
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{images_path} holds {images.shape[0]} images but {labels_path} holds {labels.shape[0]} labels"
        )
    return images, labels


class IdxSource(Source):
    """One split of an MNIST-family dataset, read into memory as uint8 [N, H, W] (47 MB at most)."""

    labelled = True

    def __init__(self, name: str, split: str, data_dir: str | Path | None = None, download: bool = False) -> None:
        if name not in IDX_DATASETS:
            raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(IDX_DATASETS)}")
        if split not in IDX_SPLITS:
            raise UsageError(f"{name} has no {split!r} split; choose one of {', '.join(IDX_SPLITS)}")
        self.name, self.split = name, split
        if name == "mnist-sample":
            self._images, self._labels, self._paths = _read_sample(split)
        else:
            images_path, labels_path = _locate(name, split, data_dir, download)
            self._images, self._labels = _read_pair(name, images_path, labels_path)
            self._paths = (images_path, labels_path)
        self.description = f"{name} {split} ({self._paths[0].parent})"
        self.shape = (1, int(self._images.shape[1]), int(self._images.shape[2]))

    def __len__(self) -> int:
        return int(self._images.shape[0])

    def read(self, indices: np.ndarray) -> RawBatch:
        return RawBatch(self._images[indices][:, None], self._labels[indices])

    def files(self) -> list[FileRecord]:
        return [file_record(p) for p in self._paths]

    def origin(self) -> str:
        return str(self._paths[0])


def _read_sample(split: str) -> tuple[np.ndarray, np.ndarray, tuple[Path, Path]]:
    """The shipped sample, split 2500 / 500 (see SAMPLE_DIR above)."""
    found = _find_pair(SAMPLE_DIR, "train")
    if found is None:
        raise DataError(
            f"the mnist-sample files are missing from {SAMPLE_DIR}; reinstall vmieval from a "
            "source checkout (pip install -e .) or use --data mnist"
        )
    images, labels = _read_pair("mnist-sample", *found)
    if images.shape[0] != SAMPLE_SIZE:
        raise DataError(f"{found[0]} should hold {SAMPLE_SIZE} images, found {images.shape[0]}")
    part = slice(None, SAMPLE_TRAIN_SIZE) if split == "train" else slice(SAMPLE_TRAIN_SIZE, None)
    return images[part], labels[part], found


def fetch_dataset(name: str, data_dir: str | Path | None = None) -> None:
    """Make both splits of `name` available (downloading only what is missing), before a long run."""
    for split in IDX_SPLITS:
        _locate(name, split, data_dir, download=True)
