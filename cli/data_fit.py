"""Inferring `--image-size` from the model: resize to its spec, and say so on stderr."""

from __future__ import annotations

from vmieval.cli.console import stderr

from vmieval.data import ImageData, fit_to_spec
from vmieval.spec import ModelSpec


def fit_images(data: ImageData, spec: ModelSpec) -> ImageData:
    """Resize when the split's image size differs from the model's; a visible note, never silent."""
    fitted = fit_to_spec(data, spec)
    if fitted is not data:
        before = "x".join(map(str, data.images.shape[-2:]))
        after = "x".join(map(str, fitted.images.shape[-2:]))
        stderr.print(
            f"note: resized {data.name} images {before} -> {after} to fit the model (set --image-size to choose)"
        )
    return fitted
