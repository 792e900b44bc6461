"""torchvision datasets already on disk: KMNIST, EMNIST, CIFAR-10, CIFAR-100, SVHN and CelebA.

They are opened through torchvision's own classes with `download=False`; `download=True` (the CLI's
`--download`) is the only way anything is fetched. The root is `data_dir`, else `$VMIEVAL_DATA`, else
`~/.cache/vmieval`, laid out as torchvision lays it out (e.g. `ROOT/cifar-10-batches-py/`,
`ROOT/KMNIST/raw/`, `ROOT/celeba/img_align_celeba/`). MNIST and Fashion-MNIST are read by `idx.py`,
which also accepts torchvision's `ROOT/MNIST/raw` layout.

Trust: CIFAR's batch files are Python pickles, and torchvision unpickles them. That is acceptable only
because they are the user's own copy of a public dataset (and torchvision first checks each file's md5
against the official one, so a substituted file is refused before it is unpickled); vmieval never
unpickles a checkpoint. SVHN's `.mat` files are read with scipy (no pickle).

Per dataset: EMNIST takes a variant (`emnist-letters`; default `balanced`) and, as torchvision returns
them, its images are transposed relative to the characters' upright orientation. CelebA images
(178 x 218 RGB) are decoded per batch with PIL and resized whole to the model's size (crop
them beforehand if the model was trained on crops); its 40 binary attributes are the factors, with
torchvision's attribute names; it has no labels. SVHN's label 10 is digit 0, as torchvision maps it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from vmieval.choices import TORCHVISION_DATASETS
from vmieval.data.dataset import FileRecord, RawBatch, Source
from vmieval.data.files import file_record, folder_record
from vmieval.data.idx import ENV_VAR, default_cache_dir
from vmieval.errors import DataError, UsageError

EMNIST_VARIANTS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")
_SPLITS = {"celeba": ("train", "valid", "test")}
_LAYOUT = {
    "kmnist": "KMNIST/raw",
    "emnist": "EMNIST/raw",
    "cifar10": "cifar-10-batches-py",
    "cifar100": "cifar-100-python",
    "svhn": "{split}_32x32.mat",
    "celeba": "celeba/",
}


def torchvision_root(data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    return Path(os.environ[ENV_VAR]).expanduser() if os.environ.get(ENV_VAR) else default_cache_dir()


def _open(base: str, variant: str | None, root: Path, split: str, download: bool):  # noqa: ANN202
    from torchvision import datasets  # imported late: only these datasets need it

    train = split == "train"
    if base == "kmnist":
        return datasets.KMNIST(str(root), train=train, download=download)
    if base == "emnist":
        return datasets.EMNIST(str(root), split=variant or "balanced", train=train, download=download)
    if base == "cifar10":
        return datasets.CIFAR10(str(root), train=train, download=download)
    if base == "cifar100":
        return datasets.CIFAR100(str(root), train=train, download=download)
    if base == "svhn":
        return datasets.SVHN(str(root), split=split, download=download)
    return datasets.CelebA(str(root), split=split, target_type="attr", download=download)


class TorchvisionSource(Source):
    """One split of a torchvision dataset (module docstring)."""

    def __init__(self, name: str, split: str, data_dir: str | Path | None = None, download: bool = False) -> None:
        base, _, variant = name.partition("-")
        if base not in TORCHVISION_DATASETS or (variant and (base != "emnist" or variant not in EMNIST_VARIANTS)):
            raise UsageError(f"unknown torchvision dataset {name!r}")
        splits = _SPLITS.get(base, ("train", "test"))
        if split not in splits:
            raise UsageError(f"{name} has no {split!r} split; choose one of {', '.join(splits)}")
        self.name, self.split = name, split
        self.root = torchvision_root(data_dir)
        try:
            self._ds = _open(base, variant or None, self.root, split, download)
        except (RuntimeError, OSError, ValueError) as exc:
            layout = self.root / _LAYOUT[base].format(split=split)
            fix = "pass --data-dir ROOT, set VMIEVAL_DATA=ROOT, or pass --download"
            detail = " ".join(str(exc).split())[:200]
            raise DataError(f"{name} {split} split not found or corrupt under {layout} ({detail}); {fix}") from None
        self._base = base
        if base == "celeba":
            self._folder = Path(self._ds.root) / self._ds.base_folder / "img_align_celeba"
            self._files = [self._folder / f for f in self._ds.filename]
            self._factors = self._ds.attr.numpy()
            self.factor_names = tuple(n for n in self._ds.attr_names if n)[: self._factors.shape[1]]
            self.shape = (3, 218, 178)
            n = len(self._files)
        else:
            data = self._ds.data
            self._data = data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
            targets = getattr(self._ds, "targets", None)
            if targets is None:
                targets = self._ds.labels
            self._labels = np.asarray(targets, dtype=np.int64)
            self._nhwc = self._data.ndim == 4 and self._data.shape[-1] == 3  # CIFAR stores H x W x C
            self.labelled = True
            self.classes = tuple(str(c) for c in getattr(self._ds, "classes", ()))
            if self._data.ndim == 3:
                self.shape = (1, *self._data.shape[1:])
            elif self._nhwc:
                self.shape = (3, *self._data.shape[1:3])
            else:
                self.shape = tuple(self._data.shape[1:])  # type: ignore[assignment]
            n = len(self._data)
        self._n = n
        self.description = f"{name} {split} ({self.root})"

    def __len__(self) -> int:
        return self._n

    def read(self, indices: np.ndarray) -> RawBatch:
        if self._base == "celeba":
            from vmieval.data.folder import decode

            images = torch.stack([decode(self._files[int(i)], grey=False)[0] for i in indices])
            return RawBatch(images, None, self._factors[indices])
        rows = self._data[indices]
        if rows.ndim == 3:
            rows = rows[:, None]
        elif self._nhwc:
            rows = rows.transpose(0, 3, 1, 2)
        return RawBatch(rows, self._labels[indices])

    def files(self) -> list[FileRecord]:
        """The files torchvision read for this split (for CelebA, its lists and the split's images)."""
        if self._base == "celeba":
            lists = [Path(self._ds.root) / self._ds.base_folder / f for _, _, f in self._ds.file_list[1:]]
            return [*(file_record(p) for p in lists if p.is_file()), folder_record(self._folder, self._files)]
        if self._base == "svhn":
            return [file_record(Path(self._ds.root) / self._ds.filename)]
        if self._base in ("cifar10", "cifar100"):
            chosen = self._ds.train_list if self.split == "train" else self._ds.test_list
            folder = Path(self._ds.root) / self._ds.base_folder
            return [file_record(folder / f) for f, _ in chosen]
        folder = Path(self._ds.raw_folder)
        if self._base == "emnist":
            prefix = f"emnist-{self.name.partition('-')[2] or 'balanced'}-{self.split}-"
        else:
            prefix = "train-" if self.split == "train" else "t10k-"
        return [file_record(p) for p in sorted(folder.iterdir()) if p.name.startswith(prefix) and p.is_file()]

    def origin(self) -> str:
        return str(self.root)
