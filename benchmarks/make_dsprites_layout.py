"""Write a file in dSprites' exact published layout, rendered by vmieval's own sprites.

    .venv/bin/python benchmarks/make_dsprites_layout.py /tmp/dsprites_layout.npz          # 737,280 images
    .venv/bin/python benchmarks/make_dsprites_layout.py /tmp/small.npz --positions 8      # 46,080 images

dSprites (`dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`) is the full grid of colour 1 × shape 3 ×
scale 6 × orientation 40 × posX 32 × posY 32 in row-major order, saved with `np.savez_compressed` as:
`imgs` uint8 (737280, 64, 64) holding 0/1, `latents_classes` int64 (737280, 6), `latents_values`
float64 (737280, 6), and `metadata`, a 0-d pickled object array (a dict). This script writes the same
members, dtypes, shapes and order into the same kind of zip (deflated, zip64), streaming `imgs` in
batches so the 3 GB of pixels never exist in memory at once. The pixels are vmieval's sprites
(square, ellipse, heart; `vmieval.synthetic.sprites.render`), not the original's, so a report on it
measures cost, not published numbers. The metadata member is pickled here on purpose (the original is):
vmieval must read the file without ever unpickling it.
"""

from __future__ import annotations

import argparse
import math
import os
import time
import zipfile
from pathlib import Path

import numpy as np

from vmieval.synthetic.sprites import SpriteConfig, render

BATCH = 512


def grid(positions: int) -> np.ndarray:
    """Every (colour, shape, scale, orientation, posX, posY) class vector in row-major order: [N, 6]."""
    sizes = (1, 3, 6, 40, positions, positions)
    return np.stack(np.unravel_index(np.arange(math.prod(sizes)), sizes), axis=1).astype(np.int64)


def values(classes: np.ndarray, positions: int) -> np.ndarray:
    """dSprites' `latents_values` for the classes [N, 6]: colour 1, shape 1..3, scale 0.5..1,
    orientation 0..2π (inclusive, as published), posX/posY 0..1."""
    columns = (
        np.ones(1),
        np.arange(1.0, 4.0),
        np.linspace(0.5, 1.0, 6),
        np.linspace(0.0, 2 * math.pi, 40),
        np.linspace(0.0, 1.0, positions),
        np.linspace(0.0, 1.0, positions),
    )
    return np.stack([col[classes[:, k]] for k, col in enumerate(columns)], axis=1)


def write(path: Path, positions: int) -> int:
    """Write the file atomically (a temp name, then rename); returns the number of images."""
    classes = grid(positions)
    config = SpriteConfig(positions=positions)
    metadata = np.array({"description": "vmieval sprites in dSprites' layout", "latents_sizes": [1, 3, 6, 40,
                         positions, positions]}, dtype=object)  # fmt: skip
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        with zf.open("imgs.npy", "w", force_zip64=True) as out:
            header = {"descr": "|u1", "fortran_order": False, "shape": (len(classes), 64, 64)}
            np.lib.format.write_array_header_1_0(out, header)
            for start in range(0, len(classes), BATCH):
                ours = classes[start : start + BATCH][:, 1:]  # shape, scale, orientation, x, y
                out.write((render(ours, config) // 255).astype(np.uint8).tobytes())
        for name, array, pickled in (
            ("latents_classes", classes, False),
            ("latents_values", values(classes, positions), False),
            ("metadata", metadata, True),
        ):
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=pickled)
    os.replace(tmp, path)
    return len(classes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--positions", type=int, default=32, help="posX/posY classes (32: dSprites' 737,280)")
    args = parser.parse_args()
    start = time.perf_counter()
    n = write(args.path, args.positions)
    size = args.path.stat().st_size / 2**20
    print(f"wrote {args.path}: {n} images, {size:.1f} MiB, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
