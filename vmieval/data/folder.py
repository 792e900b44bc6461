"""A folder of images: class subfolders give labels (torchvision's ImageFolder convention); a flat
folder of images is unlabelled.

Classes are the subfolders in sorted order, numbered as torchvision's ImageFolder numbers them, except
that hidden ones (`.ipynb_checkpoints`, `.git`) are not classes; files are listed by torchvision's
`make_dataset` with its image extensions and decoded by PIL, as ImageFolder's own loader does
(torchvision.io's decoders are deprecated since 0.29), never by hand; PIL's decompression-bomb limit
stands. The colour mode is the first image's: a grey first image (with or without alpha) decodes every
image as one grey channel, anything else as RGB (alpha dropped), so one folder yields one channel count.
Images may differ in size; they are resized to the model's size in `conform.py` with everything else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

from vmieval.data.dataset import FileRecord, RawBatch, Source, folder_record
from vmieval.errors import DataError


def _is_image(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(IMG_EXTENSIONS)


def decode(path: Path, mode: str | None) -> torch.Tensor:
    """uint8 [C, H, W] in PIL `mode` ("L" or "RGB"; None: as stored); a bad file is a DataError naming it."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image if mode is None else image.convert(mode))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        message = " ".join(str(exc).split())[:200]
        raise DataError(f"cannot decode image {path}: {message}") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise DataError(f"{path}: a {pixels.shape[0]}x{pixels.shape[1]} image holds nothing")
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy())  # PIL's buffer is read-only


class FolderSource(Source):
    """Images under `root` (module docstring); `split` only labels the folder."""

    def __init__(self, root: Path, split: str) -> None:
        self.root, self.split, self.name = Path(root), split, Path(root).name or str(root)
        if not self.root.is_dir():
            raise DataError(f"no such folder: {self.root}")
        loose = sorted(p for p in self.root.iterdir() if _is_image(p))
        subdirs = [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if loose and subdirs:
            raise DataError(
                f"{self.root} holds both images and subfolders; put every image in a class subfolder "
                "(labelled) or none (unlabelled)"
            )
        if loose:
            self._files, labels = loose, None
            self.classes: tuple[str, ...] = ()
        elif subdirs:
            try:
                self.classes = tuple(sorted(p.name for p in subdirs))
                index = {name: i for i, name in enumerate(self.classes)}
                samples = make_dataset(str(self.root), index, extensions=IMG_EXTENSIONS)
            except (FileNotFoundError, OSError) as exc:  # torchvision: "Found no valid file for the classes ..."
                message = " ".join(str(exc).split())[:300]
                raise DataError(f"{self.root}: no images in its class subfolders ({message})") from None
            self._files = [Path(p) for p, _ in samples]
            labels = np.array([c for _, c in samples], dtype=np.int64)
        else:
            raise DataError(
                f"{self.root} holds no images (looked for {', '.join(IMG_EXTENSIONS)} files, "
                "directly or in class subfolders)"
            )
        self._labels = labels
        self.labelled = labels is not None
        first = decode(self._files[0], None)
        self._mode = "L" if first.shape[0] in (1, 2) else "RGB"
        self.shape = tuple(decode(self._files[0], self._mode).shape)  # type: ignore[assignment]
        kind = f"{len(self.classes)} classes" if self.classes else "unlabelled"
        self.description = f"{self.root} ({len(self._files)} images, {kind})"

    def __len__(self) -> int:
        return len(self._files)

    def read(self, indices: np.ndarray) -> RawBatch:
        images = [decode(self._files[int(i)], self._mode) for i in indices]
        return RawBatch(images, None if self._labels is None else self._labels[indices])

    def files(self) -> list[FileRecord]:
        return [folder_record(self.root, self._files)]

    def origin(self) -> str:
        return str(self.root)
