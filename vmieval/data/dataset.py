"""The one Dataset interface every data source feeds: batches of model-ready images, labels, factors.

A *source* (idx, arrays, folder, hdf5, torchvision) knows only how to read native pixels by index;
`Dataset` owns everything after that: which indices (`--limit`, a seeded subsample), batching, and the
conversion to the model's spec (`conform.py`, the one place where resizing and range mapping happen).
Downstream code (the encoded split, estimators, analyses) never branches on where data came from.

Two views of the same contract:
- `Dataset` streams: `batches(batch_size)` yields `Batch(images [B, C, H, W] float32 in the spec's
  range, labels [B] int64 or None, factors [B, F] float64 or None, index [B])`, converting one batch at a
  time, so a 700k-image uint8 array is never held as float32 (nor twice).
- `ImageData` is a split held in memory (what the MNIST-sized commands use: `images` [N, C, H, W]); it
  offers the same `batches`, `labelled`, `factor_names` and `provenance`, so a consumer can take either.

Provenance: every source lists the files it read (`files.py`: regular files only, records hashed with
sha256); `provenance` asks once, so results can record exactly which bytes were used.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from vmieval.data.conform import Fit, convert
from vmieval.data.files import FileRecord
from vmieval.errors import DataError, UsageError

DEFAULT_BATCH = 512
BATCH_BYTES = 256 * 2**20  # float32 images per batch, at most (one image per batch at least)
MAX_DEFLATE_RATIO = 1032  # deflate cannot expand more than this: a bound on what compressed bytes can hold
MAX_RATIO = 500  # declared bytes per stored byte we accept (dSprites' npz: 115); beyond it, all-fill or a bomb


def available_memory() -> int:
    """Bytes the kernel says a new allocation can take (MemAvailable; all RAM where /proc is absent)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclass(frozen=True, eq=False)
class RawBatch:
    """What a source returns for some indices, before any conversion.

    `images`: a uint8 or float array [B, C, H, W] (numpy or torch), or a list of B tensors [C, H, W]
    when the source's images differ in size (a folder); `labels` [B] and `factors` [B, F] or None.
    """

    images: np.ndarray | torch.Tensor | list[torch.Tensor]
    labels: np.ndarray | None = None
    factors: np.ndarray | None = None


class Source(ABC):
    """Random access to one split of native images. Subclasses set the attributes below in __init__.

    `pixel_max` is what a stored integer pixel means as 1.0 (255 for 8-bit images, 1 for dSprites' 0/1
    bytes); float pixels must already lie in [0, 1].
    """

    name: str
    split: str
    description: str
    shape: tuple[int, int, int]  # native [C, H, W] (of the first image when sizes vary)
    pixel_max: float = 255.0
    labelled: bool = False
    factor_names: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()  # label i's name, when the source knows it

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def read(self, indices: np.ndarray) -> RawBatch:
        """The items at `indices` (int64, sorted ascending, unique), in that order."""

    @abstractmethod
    def files(self) -> list[FileRecord]:
        """Records of the files this source reads (hashing them is allowed to be slow)."""

    def image_values(self, indices: np.ndarray) -> np.ndarray | None:
        """C*H*W of each image at `indices` when images differ in size (read from headers, nothing
        decoded), so a batch is cut by the real images; None when every image has `shape`."""
        return None

    def origin(self) -> str:
        """The main file or folder, as one short string (the `source` of ImageData)."""
        return self.description


@dataclass(frozen=True, eq=False)
class Batch:
    """One batch ready for a model: images [B, C, H, W] float32, labels [B] int64, factors [B, F] float64."""

    images: torch.Tensor
    labels: torch.Tensor | None
    factors: torch.Tensor | None
    index: torch.Tensor  # [B] positions in the source, so results can point back at images


class Dataset:
    """A source, the indices chosen from it, and the fit to a model (None: native size, [0, 1])."""

    def __init__(self, source: Source, fit: Fit | None = None, indices: np.ndarray | None = None) -> None:
        self.source = source
        self.fit = fit
        self._indices = indices  # None: every image, in order (never materialised for the whole source)

    @property
    def indices(self) -> np.ndarray:
        """The chosen positions in the source, sorted (int64 [len(self)])."""
        return np.arange(len(self.source), dtype=np.int64) if self._indices is None else self._indices

    def _chunk(self, start: int, stop: int) -> np.ndarray:
        if self._indices is None:
            return np.arange(start, min(stop, len(self.source)), dtype=np.int64)
        return self._indices[start:stop]

    # -- identity --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.source.name

    @property
    def split(self) -> str:
        return self.source.split

    @property
    def description(self) -> str:
        return self.source.description

    @property
    def labelled(self) -> bool:
        return self.source.labelled

    @property
    def factor_names(self) -> tuple[str, ...]:
        return self.source.factor_names

    @cached_property
    def provenance(self) -> tuple[FileRecord, ...]:
        """Files read, with their sha256 (computed once, on first use)."""
        return tuple(self.source.files())

    def __len__(self) -> int:
        return len(self.source) if self._indices is None else int(self._indices.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """[C, H, W] of the images `batches` yields (a 0 in the fit keeps the native value)."""
        if self.fit is None or self.fit.shape is None:
            return self.source.shape
        return tuple(w or n for w, n in zip(self.fit.shape, self.source.shape, strict=True))  # type: ignore[return-value]

    # -- choosing and fitting ----------------------------------------------------------------------
    def select(self, limit: int | None = None, seed: int | None = None) -> Dataset:
        """The first `limit` images, or (with `seed`) `limit` images drawn without replacement.

        The drawn indices are sorted, so streamed sources still read forward in one pass.
        """
        if limit is not None and limit < 0:
            raise UsageError(f"limit must be zero or more images, got {limit}")
        if limit is None or limit >= len(self):
            return self
        if seed is None:
            chosen = self._chunk(0, limit)
        else:  # draw positions in [0, len) first, so a huge source is never enumerated
            rng = np.random.default_rng(seed)
            chosen = np.sort(self.indices_at(rng.choice(len(self), size=limit, replace=False)))
        return Dataset(self.source, self.fit, chosen)

    def indices_at(self, positions: np.ndarray) -> np.ndarray:
        """Source indices of positions within this selection."""
        positions = np.asarray(positions, dtype=np.int64)
        return positions if self._indices is None else self._indices[positions]

    def fitted(self, fit: Fit | None) -> Dataset:
        return Dataset(self.source, fit, self._indices)

    # -- reading -----------------------------------------------------------------------------------
    def batches(self, batch_size: int = DEFAULT_BATCH) -> Iterator[Batch]:
        """Converted batches in index order; only one batch of float images exists at a time."""
        if batch_size < 1:
            raise UsageError(f"batch size must be positive, got {batch_size}")
        # Large images shrink the batch, so one batch stays near BATCH_BYTES: the larger of the file's real
        # image and the model's (e.g. --image-size 4096); sources of varying sizes are cut image by image.
        values = max(int(np.prod(self.shape)), int(np.prod(self.source.shape)))
        batch_size = max(1, min(batch_size, BATCH_BYTES // (4 * values)))
        fit = self.fit or Fit()
        for start in range(0, len(self), batch_size):
            for chunk in self._parts(self._chunk(start, start + batch_size)):
                yield self._convert(chunk, fit)

    def _parts(self, chunk: np.ndarray) -> Iterator[np.ndarray]:
        """`chunk` cut so that no part's native images exceed BATCH_BYTES as float32 (one image at least)."""
        values = self.source.image_values(chunk)
        if values is None:
            yield chunk
            return
        start, total = 0, 0
        for i, v in enumerate(values.tolist()):
            if i > start and 4 * (total + v) > BATCH_BYTES:
                yield chunk[start:i]
                start, total = i, 0
            total += v
        yield chunk[start:]

    def _convert(self, chunk: np.ndarray, fit: Fit) -> Batch:
        raw = self.source.read(chunk)
        return Batch(
            images=convert(raw.images, self.source.pixel_max, fit, self.description),
            labels=_labels(raw.labels, self.description),
            factors=_factors(raw.factors, self.description),
            index=torch.from_numpy(chunk.copy()),
        )

    def to_memory(self, batch_size: int = DEFAULT_BATCH) -> ImageData:
        """The whole selection as one ImageData (float32 [N, C, H, W]).

        Images, labels and factors are allocated once, at their final size, and filled batch by batch:
        no float copy of the whole set is ever made beside them, and no per-batch tensor outlives its
        batch (keeping small ones in a list fragments the heap and raises peak memory well above N images).
        """
        n = len(self)
        need, free = 4 * n * int(np.prod(self.shape)), available_memory()
        if need > free:
            raise DataError(
                f"{self.description}: {n} images of {'x'.join(map(str, self.shape))} take {_mib(need)} as float32, "
                f"more than the {_mib(free)} available; use --limit or a smaller --image-size"
            )
        images = labels = factors = None
        filled = 0
        for batch in self.batches(batch_size):
            if images is None:
                images = torch.empty((n, *batch.images.shape[1:]), dtype=torch.float32)
                labels = None if batch.labels is None else torch.empty(n, dtype=torch.int64)
                factors = (
                    None if batch.factors is None else torch.empty((n, batch.factors.shape[1]), dtype=torch.float64)
                )
            rows = slice(filled, filled + len(batch.images))
            images[rows] = batch.images
            if labels is not None:
                labels[rows] = batch.labels
            if factors is not None:
                factors[rows] = batch.factors
            filled = rows.stop
        if images is None:
            images = torch.empty((0, *self.shape), dtype=torch.float32)
            labels = torch.empty(0, dtype=torch.int64) if self.labelled else None
        return ImageData(
            images=images,
            labels=labels,
            name=self.name,
            split=self.split,
            source=self.source.origin(),
            factors=factors,
            factor_names=self.factor_names,
            description=self.description,
            dataset=self,
        )


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB" if size >= 2**20 else f"{size:,} bytes"


MAX_LABEL = 2**31  # a class number beyond this is not a class: a corrupt or hostile file


def _labels(labels: np.ndarray | None, where: str) -> torch.Tensor | None:
    """Class numbers as int64 [B]: whole, finite and within +-MAX_LABEL (1e300 is refused, never cast)."""
    if labels is None:
        return None
    array = np.asarray(labels)
    if array.dtype.kind not in "iubf":
        raise DataError(f"{where}: labels must be integers, got dtype {array.dtype}")
    if array.size:
        with np.errstate(all="ignore"):
            whole = bool(np.all(np.isfinite(array))) and bool(np.all(array == np.round(array)))
        if not whole:
            raise DataError(f"{where}: labels must be whole class numbers")
        if array.dtype.kind != "b" and (float(array.max()) > MAX_LABEL or float(array.min()) < -MAX_LABEL):
            raise DataError(f"{where}: a label of {float(np.abs(array).max()):g} is not a class number")
    return torch.from_numpy(array.astype(np.int64))


def _factors(factors: np.ndarray | None, where: str) -> torch.Tensor | None:
    """Ground-truth factor values as float64 [B, F]; NaN or infinite values are refused."""
    if factors is None:
        return None
    array = np.asarray(factors, np.float64)
    if not np.all(np.isfinite(array)):
        raise DataError(f"{where}: factor values must be finite numbers")
    return torch.from_numpy(array)


@dataclass(frozen=True, eq=False)
class ImageData:
    """A split held in memory: `images` float32 [N, C, H, W] in the spec's range (default [0, 1]).

    `labels` int64 [N] or None (unlabelled data); `factors` float64 [N, F] or None with `factor_names`;
    `source` is the main file or folder read. `dataset` is the streaming Dataset it came from (None for
    data built in memory), which also answers `provenance`.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    name: str
    split: str
    source: str
    factors: torch.Tensor | None = None
    factor_names: tuple[str, ...] = ()
    description: str = ""
    dataset: Dataset | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    @property
    def provenance(self) -> tuple[FileRecord, ...]:
        """Files read with their sha256 (empty for data made in memory)."""
        return self.dataset.provenance if self.dataset is not None else ()

    def batches(self, batch_size: int = DEFAULT_BATCH) -> Iterator[Batch]:
        """The same batches a Dataset yields, as views into the held tensors."""
        if batch_size < 1:
            raise UsageError(f"batch size must be positive, got {batch_size}")
        positions = self.dataset.indices if self.dataset is not None and len(self.dataset) == len(self) else None
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            yield Batch(
                images=self.images[start:stop],
                labels=None if self.labels is None else self.labels[start:stop],
                factors=None if self.factors is None else self.factors[start:stop],
                index=torch.arange(start, stop) if positions is None else torch.from_numpy(positions[start:stop]),
            )

    def replace_images(self, images: torch.Tensor) -> ImageData:
        """The same split with other images (e.g. resized): labels, factors and provenance kept."""
        return ImageData(
            images, self.labels, self.name, self.split, self.source,
            self.factors, self.factor_names, self.description, self.dataset,
        )  # fmt: skip
