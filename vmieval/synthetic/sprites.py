"""Procedural sprites with known factors, in the spirit of dSprites (Matthey et al. 2017).

The project cannot download dSprites here, yet factor metrics (MIG) and non-MNIST data paths need a
real test set with ground truth. Each image is one white shape on black, drawn from five factors
whose integer classes are stored beside the pixels (dSprites' `latents_classes`):
    shape     3 classes: square, ellipse, heart
    scale     6 classes: 0.5 .. 1 of the largest size
    rotation 40 classes: 0 .. 2π (exclusive), as in dSprites
    x, y     32 classes each: the centre, evenly spaced across the image
The RGB variant adds a `colour` factor (6 saturated colours) and returns [N, H, W, 3]. As in
dSprites, rotation is only partly identifiable (a square repeats every 90°, an ellipse every 180°).

Rendering is one vectorised mask per batch: every pixel centre is mapped into the sprite's own frame
(translate, rotate by −θ, divide by the scale) and tested against the shape's implicit inequality.
Images are binary uint8 (0 or 255), as dSprites'. A seed fixes everything: the same (n, seed,
config) gives the same factors everywhere and the same bytes on a given numpy (a platform whose
sin/cos differ in the last bit could flip a pixel exactly on a shape's edge).

The `.npz` layout (`save_npz`) is the one vmieval's array loader reads: `images` [N, H, W] or
[N, H, W, C] uint8, `labels` [N] (the shape class, so cluster analyses have a label), `factors`
[N, F] int64 classes and `factor_names` [F] strings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vmieval.outputs import atomic_write

SHAPES = ("square", "ellipse", "heart")
COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "magenta": (255, 0, 255),
    "cyan": (0, 255, 255),
}
FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")


@dataclass(frozen=True)
class SpriteConfig:
    """Image side in pixels and the number of classes of each continuous factor. `max_radius` is
    the half-size of a scale-1 sprite as a fraction of the side; centres keep it inside the frame."""

    size: int = 64
    scales: int = 6
    rotations: int = 40
    positions: int = 32
    max_radius: float = 0.16
    rgb: bool = False
    batch: int = 512


@dataclass(frozen=True)
class Sprites:
    """A generated set: `images` uint8 [N, H, W] (or [N, H, W, 3]), `factors` int64 [N, F] classes,
    `labels` int64 [N] (= the shape class), `factor_names` [F]."""

    images: np.ndarray
    factors: np.ndarray
    labels: np.ndarray
    factor_names: tuple[str, ...]
    seed: int

    def __len__(self) -> int:
        return int(self.images.shape[0])


def factor_sizes(config: SpriteConfig) -> tuple[int, ...]:
    """Number of classes per factor, in `factor_names` order."""
    sizes = (len(SHAPES), config.scales, config.rotations, config.positions, config.positions)
    return (*sizes, len(COLOURS)) if config.rgb else sizes


def factor_names(config: SpriteConfig) -> tuple[str, ...]:
    return (*FACTOR_NAMES, "colour") if config.rgb else FACTOR_NAMES


def factor_values(classes: np.ndarray, config: SpriteConfig) -> dict[str, np.ndarray]:
    """Continuous values of the geometric factors (dSprites' `latents_values`) from classes [N, F]:
    scale in [0.5, 1], rotation in radians [0, 2π), centre x and y in pixels."""
    size, radius = config.size, config.max_radius * config.size
    positions = np.linspace(radius, size - radius, config.positions)
    return {
        "scale": np.linspace(0.5, 1.0, config.scales)[classes[:, 1]],
        "rotation": 2 * math.pi * classes[:, 2] / config.rotations,
        "x": positions[classes[:, 3]],
        "y": positions[classes[:, 4]],
    }


def shape_masks(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in the sprite's own frame: `u`, `v` [B, H, W] in units of the sprite's
    half-size (y up), `shape` [B] classes: bool [B, H, W]. Every shape fits in the unit disc, so
    a sprite never leaves the frame whatever its rotation."""
    mask = np.zeros(u.shape, dtype=bool)
    for kind in np.unique(shape):  # each image is tested against its own shape only
        i = shape == kind
        a, b = u[i], v[i]
        if kind == 0:
            mask[i] = np.maximum(np.abs(a), np.abs(b)) <= 0.7
        elif kind == 1:
            mask[i] = a**2 + (b / 0.55) ** 2 <= 1.0
        else:  # the heart curve (x² + y² − 1)³ ≤ x²y³ lies in the disc of radius 1.25 around (0, 0.25)
            hu, hv = 1.25 * a, 1.25 * b + 0.25
            mask[i] = (hu**2 + hv**2 - 1.0) ** 3 <= hu**2 * hv**3
    return mask


def render(classes: np.ndarray, config: SpriteConfig = SpriteConfig()) -> np.ndarray:
    """Images for factor classes [B, F] (F as `factor_names(config)`): uint8 [B, H, W] or [B, H, W, 3]."""
    values = factor_values(classes, config)
    centres = np.arange(config.size, dtype=np.float64) + 0.5
    col = centres[None, None, :] - values["x"][:, None, None]
    row = centres[None, :, None] - values["y"][:, None, None]
    cos, sin = np.cos(values["rotation"])[:, None, None], np.sin(values["rotation"])[:, None, None]
    half = (values["scale"] * config.max_radius * config.size)[:, None, None]
    u = (cos * col + sin * -row) / half  # rotate the pixel by −θ (image rows grow downwards)
    v = (-sin * col + cos * -row) / half
    mask = shape_masks(classes[:, 0], u, v)
    if not config.rgb:
        return mask.astype(np.uint8) * 255
    palette = np.array(list(COLOURS.values()), dtype=np.uint8)
    return mask[..., None].astype(np.uint8) * palette[classes[:, 5]][:, None, None, :]


def sample_classes(n: int, seed: int, config: SpriteConfig = SpriteConfig()) -> np.ndarray:
    """`n` factor-class vectors [n, F], each factor uniform and independent, from `seed`."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, k, n) for k in factor_sizes(config)], axis=1).astype(np.int64)


def make_sprites(n: int, seed: int = 0, config: SpriteConfig = SpriteConfig()) -> Sprites:
    """`n` sprites with independent uniform factors, deterministic in (`n`, `seed`, `config`)."""
    if n < 1:
        raise ValueError(f"need at least one sprite, got n={n}")
    classes = sample_classes(n, seed, config)
    images = np.concatenate([render(classes[i : i + config.batch], config) for i in range(0, n, config.batch)])
    return Sprites(images, classes, classes[:, 0].copy(), factor_names(config), seed)


def save_npz(path: str | Path, sprites: Sprites, force: bool = True) -> Path:
    """Write the set as a compressed `.npz` in vmieval's array layout, atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                images=sprites.images,
                labels=sprites.labels,
                factors=sprites.factors,
                factor_names=np.array(sprites.factor_names),
            )

    return atomic_write(path, write, force=force)
