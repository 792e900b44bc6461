"""Random small affine views of an image batch, for the augmentation-consistency term on c.

A digit shifted by a pixel or two, turned a few degrees or scaled by a few percent is the same
digit; a code that changes under such a move encodes the pixels, not the class. The views are
drawn with torchvision's `affine` on tensors, one call per group of images: a batch of B images is
cut into `groups` consecutive chunks and each chunk gets its own shift, angle and scale. Since the
batch order is already random, a group shares its move with arbitrary other images, and one call
per image would cost about 150x more time per batch on a CPU (benchmarks/README.md, tuning log).
Every draw comes from the generator passed in, so a seeded run is reproducible and resumable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode


@dataclass(frozen=True)
class AffineRange:
    """Largest move of a view: shift in pixels (each axis), rotation in degrees, relative scale change."""

    shift: float
    rotation: float
    scale: float


def _uniform(generator: torch.Generator, n: int, half_width: float) -> torch.Tensor:
    """n draws from U(-half_width, half_width) [n] on the CPU."""
    return (torch.rand(n, generator=generator, dtype=torch.float64) * 2.0 - 1.0) * half_width


def random_affine(
    images: torch.Tensor, generator: torch.Generator, moves: AffineRange, groups: int = 10
) -> torch.Tensor:
    """A randomly moved copy of `images` [B, C, H, W] (same shape and device; bilinear, zero fill).

    All ranges 0 returns `images` itself: the identity warp would still resample them (about 1e-6 off).
    """
    if moves == AffineRange(0.0, 0.0, 0.0):
        return images
    chunks = torch.tensor_split(images, min(groups, images.shape[0]))
    n = len(chunks)
    shifts = _uniform(generator, 2 * n, moves.shift).view(n, 2)
    angles = _uniform(generator, n, moves.rotation)
    scales = 1.0 + _uniform(generator, n, moves.scale)
    views = [
        TF.affine(
            chunk,
            angle=float(angles[i]),
            translate=[float(shifts[i, 0]), float(shifts[i, 1])],
            scale=float(scales[i]),
            shear=[0.0, 0.0],
            interpolation=InterpolationMode.BILINEAR,
        )
        for i, chunk in enumerate(chunks)
    ]
    return torch.cat(views)
