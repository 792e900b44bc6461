"""`--data sprites` / `sprites-rgb`: the procedural sprites as a data source, rendered on demand.

No file is involved: a split is a seed and a size, the factor classes of all its images are drawn up
front (a few bytes each) and pixels are rendered only for the indices a batch asks for, so memory stays
bounded whatever the size and the data exists on any machine that has vmieval. The splits are exactly
the committed fixtures (`fixtures/make_sprites.py`): `train` is 6,000 grey images from seed 0, `test`
1,000 from seed 1; `sprites-rgb` adds the colour factor (train seed 3, test seed 2 as its fixture file).
"""

from __future__ import annotations

import numpy as np

from vmieval.choices import SYNTHETIC_DATASETS
from vmieval.data.dataset import FileRecord, RawBatch, Source
from vmieval.errors import UsageError
from vmieval.synthetic.sprites import SpriteConfig, factor_names, render, sample_classes

# dataset -> split -> (number of images, seed)
SPLITS = {
    "sprites": {"train": (6000, 0), "test": (1000, 1)},
    "sprites-rgb": {"train": (6000, 3), "test": (500, 2)},
}


class SpriteSource(Source):
    """One split of generated sprites: [C, 64, 64] uint8 images, the shape class as label, all factors."""

    pixel_max = 255.0
    labelled = True

    def __init__(self, name: str, split: str) -> None:
        if name not in SPLITS:
            raise UsageError(f"unknown synthetic dataset {name!r}; choose one of {', '.join(SYNTHETIC_DATASETS)}")
        if split not in SPLITS[name]:
            raise UsageError(f"{name} has no {split!r} split; choose one of {', '.join(SPLITS[name])}")
        self.name, self.split = name, split
        self.config = SpriteConfig(rgb=name == "sprites-rgb")
        n, self.seed = SPLITS[name][split]
        self._classes = sample_classes(n, self.seed, self.config)
        self.factor_names = factor_names(self.config)
        self.shape = (3 if self.config.rgb else 1, self.config.size, self.config.size)
        self.description = f"{name} {split} ({n} generated images {'x'.join(map(str, self.shape))}, seed {self.seed})"

    def __len__(self) -> int:
        return int(self._classes.shape[0])

    def read(self, indices: np.ndarray) -> RawBatch:
        classes = self._classes[indices]
        images = render(classes, self.config)
        nchw = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        return RawBatch(np.ascontiguousarray(nchw), classes[:, 0].copy(), classes)

    def files(self) -> list[FileRecord]:
        return []  # generated from (name, split, seed): nothing was read

    def origin(self) -> str:
        return f"vmieval.synthetic.make_sprites(seed={self.seed})"
