"""The data options shared by `mi-bound` and `report`, and loading the images they name.

The core decides which data a checkpoint is evaluated on (`vmieval.data.choose`: `--data` (alias
`--dataset`), else the dataset its training record names; a checkpoint that records none needs `--data`);
this module only declares the options and hands them over. Any adaptation of the images is said on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from vmieval.cli import output

from vmieval.choices import DATASETS, SPLITS

if TYPE_CHECKING:  # the data modules import torch: imported where used, so --help stays instant
    from vmieval.data import Dataset
    from vmieval.frozen import FrozenVAE

_META = "vmieval.data_options"  # click ctx.meta key: the options reach data_choice(), not the command's arguments


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_META, {})[param.name] = value
    return value


_KEPT: dict[str, Any] = {"expose_value": False, "callback": _remember}


@dataclass(frozen=True)
class DataChoice:
    """What the data options asked for (None: the default the loader picks)."""

    dataset: str | None = None
    data_dir: str | None = None
    download: bool = False
    split: str = "test"
    image_size: int | None = None
    limit: int | None = None
    subsample_seed: int | None = None
    grey: bool = False
    allow_external: bool = False


def data_choice() -> DataChoice:
    """The data options of the command being run, read from click's context (defaults outside one)."""
    ctx = click.get_current_context(silent=True)
    return DataChoice(**(ctx.meta.get(_META, {}) if ctx is not None else {}))


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--data/--dataset, --data-dir, --download, --split, --image-size, --limit, --subsample-seed, --grey.

    None is passed to the command as an argument (expose_value=False): the command reads them once with
    `data_choice()`, so each command's signature does not repeat the eight of them.
    """
    options = [
        click.option("--data", "--dataset", "dataset", default=None, metavar="NAME|PATH", **_KEPT,
                     help=f"Images to use: a dataset ({', '.join(DATASETS)}), a .npz/.npy file, a folder of "
                          "images, or file.h5:images. Default: the dataset the checkpoint records (else required)."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None, **_KEPT,
                     help="Folder holding a named dataset's files (not used with a file or folder --data)."),
        click.option("--download", is_flag=True, **_KEPT,
                     help="Download a named dataset (torchvision) if it is not found."),
        click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True, **_KEPT,
                     help="Split of a named dataset; for a file or folder, only the label recorded."),
        click.option("--image-size", type=int, default=None, **_KEPT,
                     help="Resize images to N x N. Default: the model's own size."),
        click.option("--limit", type=int, default=None, **_KEPT,
                     help="Use only N images: the first N, or N drawn with --subsample-seed."),
        click.option("--subsample-seed", type=int, default=None, **_KEPT,
                     help="With --limit, draw the N images at random with this seed (stored order kept)."),
        click.option("--grey", is_flag=True, **_KEPT,
                     help="Convert RGB images to grey for a one-channel model (never done unasked)."),
        click.option("--allow-external", is_flag=True, **_KEPT,
                     help="Let an HDF5 file read data stored in other files (external links, virtual datasets, "
                          "external storage); each file read is recorded in the provenance."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def dataset_for(models: list[FrozenVAE], requested: str | None) -> str:
    """`vmieval.data.choose.dataset_for`: --data, else the dataset the checkpoints record."""
    from vmieval.data.choose import dataset_for as choose

    return choose(models, requested)


def open_for_models(models: list[FrozenVAE], choice: DataChoice | None = None) -> Dataset:
    """The split the options name (`choice`, else the running command's), chosen and fitted to the first
    model's spec by the core (`vmieval.data.choose.open_for_models`); a resize is said on stderr."""
    from vmieval.data.choose import open_for_models as choose

    c = choice or data_choice()
    return choose(models, c.dataset, c.split, c.data_dir, download=c.download, image_size=c.image_size,
                  limit=c.limit, subsample_seed=c.subsample_seed, grey=c.grey, allow_external=c.allow_external,
                  say=output.info)  # fmt: skip
