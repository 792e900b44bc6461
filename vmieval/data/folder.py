"""A folder of images: class subfolders give labels (torchvision's ImageFolder convention); a flat
folder of images is unlabelled.

Classes are the subfolders in sorted order, numbered as torchvision's ImageFolder numbers them, except
that hidden ones (`.ipynb_checkpoints`, `.git`) are not classes; files are the ones with torchvision's
image extensions, in `make_dataset`'s order, and are decoded by PIL, never by hand. The walk is ours,
not `os.walk(followlinks=True)`: a link that leaves the folder is refused, a folder reached twice (a
link loop, `.`) is read once, and only regular files are opened (a FIFO named `a.png` would block).

Pixels, by one rule: an image is read in its real range or refused. 8-bit modes (1, L, LA, P, RGB,
RGBA, CMYK, YCbCr...) give uint8 (/255; a palette is looked up, alpha dropped, CMYK converted by PIL);
16-bit modes (I;16*, and I holding values up to 65535) give float /65535; float images (F) must lie in
[0, 1] like float arrays. The colour mode is the first image's: a grey first image (L, LA, 1, I, I;16,
F) reads every image as one channel, anything else as RGB. An image larger than a batch's budget
(`conform.MAX_IMAGE_VALUES`) or PIL's decompression-bomb limit is refused from its header, before it
is decoded. Images may differ in size; batches are cut by their real sizes (`image_values`).

Provenance: each file is hashed from the bytes decoded, as it is read; the folder's record covers the
files read, not the ones past `--limit`.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS

from vmieval.data.conform import MAX_IMAGE_VALUES, check_image_size
from vmieval.data.dataset import FileRecord, RawBatch, Source
from vmieval.data.files import check_not_system
from vmieval.errors import DataError, terminal_safe

GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
MAX_FILE_BYTES = 4 * MAX_IMAGE_VALUES  # an image file may not hold more than its decoded budget


def _image_name(name: str) -> bool:
    return name.lower().endswith(IMG_EXTENSIONS)


class _Walk:
    """Regular image files under `root`, sorted as torchvision's make_dataset sorts them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))
        self.seen: set[tuple[int, int]] = set()

    def inside(self, path: Path) -> Path:
        """The real path of `path`, refused when a link takes it out of the folder."""
        real = Path(os.path.realpath(path))
        if real != self.root and self.root not in real.parents:
            raise DataError(f"{terminal_safe(str(path))} links outside {terminal_safe(str(self.root))}; not followed")
        check_not_system(real, path)  # `--data /` must not wander into /proc
        return real

    def files(self, folder: Path) -> list[Path]:
        out: list[Path] = []
        for current, names in sorted(self._folders(folder)):
            for name in sorted(names):
                path = Path(current) / name
                if _image_name(name) and _regular(self.inside(path)):
                    out.append(path)
        return out

    def _folders(self, folder: Path) -> list[tuple[str, list[str]]]:
        """(folder, entry names) for `folder` and every folder below it, each real folder once."""
        found: list[tuple[str, list[str]]] = []
        stack = [folder]
        while stack:
            current = stack.pop()
            info = os.stat(self.inside(current))
            if (info.st_dev, info.st_ino) in self.seen:
                continue  # a loop or a second link to a folder already read
            self.seen.add((info.st_dev, info.st_ino))
            try:
                entries = list(os.scandir(current))
            except OSError as exc:
                raise DataError(f"cannot list {terminal_safe(str(current))}: {exc.strerror or exc}") from None
            found.append((str(current), [e.name for e in entries if not e.is_dir()]))
            stack += [Path(e.path) for e in entries if e.is_dir()]
        return found


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _open(path: Path, data: bytes) -> Image.Image:
    """A PIL image from `data`, its size checked from the header before anything is decoded."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused, not a stray warning line
        image = Image.open(io.BytesIO(data))
    check_image_size((len(image.getbands()), image.height, image.width), terminal_safe(str(path)))
    return image


def _pixels(image: Image.Image, grey: bool, where: str) -> np.ndarray:
    """[H, W, C] uint8 (8-bit modes) or float32 in [0, 1] (16-bit) by the module's rule; F stays float."""
    mode = image.mode
    if mode == "F":
        return (
            np.asarray(image, dtype=np.float32)[:, :, None] if grey else np.repeat(np.asarray(image)[:, :, None], 3, 2)
        )
    if mode in SIXTEEN_BIT:
        values = np.asarray(image).astype(np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise DataError(f"{where}: 32-bit integer pixels outside 0..65535; store 8- or 16-bit images")
        scaled = (values / 65535.0).astype(np.float32)[:, :, None]
        return scaled if grey else np.repeat(scaled, 3, 2)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return np.asarray(image.convert("L" if grey else "RGB"))


def decode(path: Path, grey: bool | None) -> tuple[torch.Tensor, str]:
    """[C, H, W] pixels (module docstring) and the sha256 of the bytes decoded; `grey` None: as stored."""
    where = terminal_safe(str(path))
    try:
        if os.stat(path).st_size > MAX_FILE_BYTES:
            raise DataError(f"{where}: an image file larger than {MAX_FILE_BYTES // 2**20} MiB; not read")
        data = path.read_bytes()
        with _open(path, data) as image:
            if grey is None:
                grey = image.mode in GREY_MODES
            pixels = _pixels(image, grey, where)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        message = terminal_safe(" ".join(str(exc).split()), 200)
        raise DataError(f"cannot decode image {where}: {message}") from None
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise DataError(f"{where}: a {pixels.shape[0]}x{pixels.shape[1]} image holds nothing")
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy()), hashlib.sha256(data).hexdigest()


def header_values(path: Path, channels: int) -> int:
    """C*H*W of the image at `path` as it will be decoded (`channels` each), from its header alone."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # decode() refuses it in one line
            with Image.open(path) as image:
                return channels * image.height * image.width
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"cannot decode image {terminal_safe(str(path))}: {terminal_safe(str(exc))}") from None


class FolderSource(Source):
    """Images under `root` (module docstring); `split` only labels the folder."""

    def __init__(self, root: Path, split: str) -> None:
        self.root, self.split, self.name = Path(root), split, terminal_safe(Path(root).name or str(root), 64)
        if not self.root.is_dir():
            raise DataError(f"no such folder: {terminal_safe(str(self.root))}")
        check_not_system(Path(os.path.realpath(self.root)), self.root)
        walk = _Walk(self.root)
        entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        loose = [Path(e.path) for e in entries if not e.is_dir() and _image_name(e.name)]
        loose = [p for p in loose if _regular(walk.inside(p))]
        subdirs = [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")]
        if loose and subdirs:
            raise DataError(
                f"{terminal_safe(str(self.root))} holds both images and subfolders; put every image in a class "
                "subfolder (labelled) or none (unlabelled)"
            )
        self.classes: tuple[str, ...] = ()
        self._files: list[Path] = []
        labels = None
        if loose:
            self._files = loose
        elif subdirs:
            walk.seen.add((os.stat(self.root).st_dev, os.stat(self.root).st_ino))
            self.classes = tuple(terminal_safe(p.name, 64) for p in subdirs)
            per_class = [walk.files(p) for p in subdirs]
            self._files = [f for files in per_class for f in files]
            labels = np.array([c for c, files in enumerate(per_class) for _ in files], dtype=np.int64)
        if not self._files:
            raise DataError(
                f"{terminal_safe(str(self.root))} holds no images (looked for {', '.join(IMG_EXTENSIONS)} files, "
                "directly or in class subfolders)"
            )
        self._labels = labels
        self.labelled = labels is not None
        first, _ = decode(self._files[0], None)
        self._grey = first.shape[0] == 1
        self.shape = tuple(first.shape)  # type: ignore[assignment]
        self._read: dict[Path, str] = {}  # sha256 of every file decoded so far
        kind = f"{len(self.classes)} classes" if self.classes else "unlabelled"
        self.description = f"{terminal_safe(str(self.root))} ({len(self._files)} images, {kind})"

    def __len__(self) -> int:
        return len(self._files)

    def image_values(self, indices: np.ndarray) -> np.ndarray:
        channels = 1 if self._grey else 3
        return np.array([header_values(self._files[int(i)], channels) for i in indices], dtype=np.int64)

    def read(self, indices: np.ndarray) -> RawBatch:
        images = []
        for i in indices:
            path = self._files[int(i)]
            pixels, self._read[path] = decode(path, self._grey)
            images.append(pixels)
        return RawBatch(images, None if self._labels is None else self._labels[indices])

    def files(self) -> list[FileRecord]:
        """One record for the files read so far (FileRecord: the digest of their relative paths and digests)."""
        lines = hashlib.sha256()
        total = 0
        for path in sorted(self._read):
            lines.update(f"{path.relative_to(self.root)}\t{self._read[path]}\n".encode())
            total += path.stat().st_size
        return [FileRecord(str(self.root.resolve()), lines.hexdigest(), total)]

    def origin(self) -> str:
        return str(self.root)
