"""The one place where native pixels become model input: scale, channels, size and value range.

Every source hands over native pixels (uint8 or float, [B, C, H, W] or a list of [C, H, W] when sizes
vary); `convert` turns them into float32 [B, C, H, W] for the model's spec:
1. scale to [0, 1]: integers divide by the source's `pixel_max` (255, or 1 for dSprites' 0/1 bytes)
   whatever their storage type (uint16, int64, big-endian: read by value, a value above `pixel_max`
   refused); floats must already lie in [0, 1] (checked per batch, so a [0, 255] float array is refused,
   not silently saturated); 16-bit image files arrive already scaled (`folder.py`);
2. channels: equal counts pass; grey -> RGB copies the one channel three times (the only reading of a
   grey image in colour, so it is done without asking); RGB -> grey only when asked for explicitly
   (`Fit(rgb_to_grey=True)`, ITU-R 601 luma via torchvision), since a colour model fed grey images or
   the reverse is more often the wrong dataset than an intended conversion;
3. size: `torchvision.transforms.v2.functional.resize` (bilinear, antialiased), then a clamp to
   [0, 1], since antialiasing can overshoot and Bernoulli decoders assume the range;
4. range: [0, 1] mapped linearly onto the spec's `value_range` (skipped when that is [0, 1], so the
   MNIST numbers stay bit-identical to the earlier loader's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vmieval.errors import DataError, UsageError
from vmieval.spec import ModelSpec

MAX_SIDE = 8192  # larger targets are a typo, and would allocate gigabytes per batch
MAX_IMAGE_VALUES = 64 * 2**20  # one image's float32 pixels fill a 256 MiB batch: 8192² grey, 4729² RGB


@dataclass(frozen=True)
class Fit:
    """What the model wants: `shape` [C, H, W], `value_range`, and whether RGB -> grey is allowed.

    `shape` None keeps the native shape; a 0 channel count keeps the native channels, and H = W = 0 the
    native size (`Fit.square(size)` is `--image-size` alone, on data whose channels are left as they are).
    """

    shape: tuple[int, int, int] | None = None
    value_range: tuple[float, float] = (0.0, 1.0)
    rgb_to_grey: bool = False

    @classmethod
    def for_spec(cls, spec: ModelSpec, rgb_to_grey: bool = False) -> Fit:
        return cls(tuple(int(s) for s in spec.observation_shape), tuple(spec.value_range), rgb_to_grey)  # type: ignore[arg-type]

    @classmethod
    def square(cls, size: int | None, channels: int | None = None) -> Fit:
        """`--image-size N`: N x N, channels kept unless given (used with `channels` from a spec)."""
        if size is None:
            return cls()
        check_side(size)
        return cls((channels or 0, size, size))


def check_side(size: int) -> None:
    if not 1 <= size <= MAX_SIDE:
        raise UsageError(f"image size must be between 1 and {MAX_SIDE} pixels, got {size}")


def layout_of(shape: tuple[int, ...], where: str) -> str:
    """'NHW', 'NHWC' or 'NCHW' for an image array's shape; anything else is a DataError.

    A 4-D array is channel-last when only its last axis is 1 or 3, channel-first when only its second
    is; when both are (e.g. [N, 3, 3, 3]) the square pair of the other axes decides, else it is refused.
    """
    if len(shape) == 3:
        layout = "NHW"
    elif len(shape) == 4:
        first, last = shape[1] in (1, 3), shape[3] in (1, 3)
        if last and (not first or shape[1] == shape[2]):
            layout = "NHWC"
        elif first and (not last or shape[2] == shape[3]):
            layout = "NCHW"
        else:
            raise DataError(
                f"{where}: cannot tell channels from size in an array of shape {tuple(shape)}; "
                "store images as N x H x W, N x H x W x C or N x C x H x W with C = 1 or 3"
            )
    else:
        raise DataError(
            f"{where}: images must be a 3-D (N x H x W) or 4-D (N x H x W x C, N x C x H x W) array, "
            f"got {len(shape)}-D shape {tuple(shape)}"
        )
    height, width = (shape[1], shape[2]) if layout != "NCHW" else (shape[2], shape[3])
    if height < 1 or width < 1:
        raise DataError(f"{where}: images of {height}x{width} pixels hold nothing")
    check_image_size(native_shape(shape, layout), where)
    return layout


def check_image_size(shape: tuple[int, ...], where: str) -> None:
    """Refuse one image larger than a batch's memory budget (`MAX_IMAGE_VALUES` float32 values), before
    anything is decoded: the batch is sized by the real image, and one image must fit in it."""
    values = int(np.prod(shape, dtype=object))
    if values > MAX_IMAGE_VALUES:
        raise DataError(
            f"{where}: one image of {'x'.join(map(str, shape))} pixels takes {4 * values / 2**20:,.0f} MiB as float32, "
            f"more than a batch may hold ({4 * MAX_IMAGE_VALUES // 2**20} MiB); downscale the images first"
        )


def to_nchw(images: np.ndarray, layout: str) -> np.ndarray:
    """A view [B, C, H, W] of a batch in `layout` (no copy)."""
    if layout == "NHW":
        return images[:, None]
    if layout == "NHWC":
        return images.transpose(0, 3, 1, 2)
    return images


def native_shape(shape: tuple[int, ...], layout: str) -> tuple[int, int, int]:
    """[C, H, W] of one image of an array of `shape` in `layout`."""
    if layout == "NHW":
        return (1, int(shape[1]), int(shape[2]))
    if layout == "NHWC":
        return (int(shape[3]), int(shape[1]), int(shape[2]))
    return (int(shape[1]), int(shape[2]), int(shape[3]))


def _unit_scale(images: np.ndarray | torch.Tensor, pixel_max: float, where: str) -> torch.Tensor:
    """[B, C, H, W] native -> float32 in [0, 1] (integers / pixel_max; floats checked)."""
    if isinstance(images, np.ndarray) and (images.dtype.kind in "iu" and images.dtype != np.uint8):
        return _wide_integers(images, pixel_max, where)
    if isinstance(images, np.ndarray) and not images.dtype.isnative:  # big-endian floats: by value
        images = images.astype(images.dtype.newbyteorder("="))
    # np.require copies read-only (mmapped) or strided batches: torch wants its own writable memory.
    x = torch.from_numpy(np.require(images, requirements=["C", "W"])) if isinstance(images, np.ndarray) else images
    if x.dtype == torch.bool:
        return x.to(torch.float32)
    if not x.dtype.is_floating_point:
        if x.numel() and int(x.max()) > pixel_max:
            raise DataError(f"{where}: a pixel value {int(x.max())} exceeds the format's maximum {pixel_max:g}")
        if x.numel() and int(x.min()) < 0:
            raise DataError(f"{where}: negative pixel values; integer images must be unsigned")
        return x.to(torch.float32).div_(float(pixel_max))
    x = x.to(torch.float32)
    if x.numel() and not (bool(torch.isfinite(x).all()) and float(x.min()) >= 0.0 and float(x.max()) <= 1.0):
        raise DataError(
            f"{where}: float images must lie in [0, 1] (found values in "
            f"[{float(x.min()):g}, {float(x.max()):g}]); store uint8 in [0, 255] or divide by 255"
        )
    return x


def _wide_integers(images: np.ndarray, pixel_max: float, where: str) -> torch.Tensor:
    """Integer pixels of any other storage (uint16..uint64, int8..int64, either byte order): range
    checked in numpy, then scaled exactly as uint8 is (float32, divided by `pixel_max`)."""
    if images.size:
        low, high = int(images.min()), int(images.max())
        if high > pixel_max:
            raise DataError(f"{where}: a pixel value {high} exceeds the format's maximum {pixel_max:g}")
        if low < 0:
            raise DataError(f"{where}: negative pixel values; integer images must be unsigned")
    return torch.from_numpy(images.astype(np.float32)).div_(float(pixel_max))


def _channels(x: torch.Tensor, want: int, rgb_to_grey: bool, where: str) -> torch.Tensor:
    have = x.shape[-3]
    if want in (0, have):
        return x
    if have == 1 and want == 3:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:]).contiguous()
    if have == 3 and want == 1 and rgb_to_grey:
        from torchvision.transforms.v2 import functional as TF  # imported late: ~1 s, rarely needed

        return TF.rgb_to_grayscale(x, num_output_channels=1)
    hint = " (pass --grey to convert RGB to grey)" if (have, want) == (3, 1) else ""
    raise DataError(f"{where}: images have {have} channel(s) but the model expects {want}{hint}")


def _resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(x.shape[-2:]) == (height, width):
        return x
    from torchvision.transforms.v2 import functional as TF  # imported late: ~1 s, rarely needed

    return TF.resize(x, [height, width], antialias=True).clamp_(0.0, 1.0)


def convert(
    images: np.ndarray | torch.Tensor | list[torch.Tensor], pixel_max: float, fit: Fit, where: str
) -> torch.Tensor:
    """Native pixels -> float32 [B, C, H, W] for `fit` (steps in the module docstring)."""
    if isinstance(images, list):  # images of different sizes: fit each, then stack
        if not images:
            raise DataError(f"{where}: no images to read")
        if fit.shape is None or not fit.shape[1]:
            sizes = {tuple(im.shape[-2:]) for im in images}
            if len(sizes) > 1:
                raise DataError(f"{where}: images differ in size ({len(sizes)} sizes); give --image-size")
        return torch.stack([convert(im[None], pixel_max, fit, where)[0] for im in images])
    x = _unit_scale(images, pixel_max, where)
    if fit.shape is not None:
        channels, height, width = fit.shape
        x = _channels(x, channels, fit.rgb_to_grey, where)
        if height and width:
            x = _resize(x, height, width)
    low, high = fit.value_range
    if (low, high) != (0.0, 1.0):
        x = x * (high - low) + low  # out of place: x may be the caller's own tensor
    return x
