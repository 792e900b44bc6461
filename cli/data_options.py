"""The data options shared by `mi-bound` and `report`, and loading the images they name.

One place decides which dataset a checkpoint is evaluated on (`--dataset`, else the dataset its
training record names, else MNIST) and adapts the images to the model's size, saying so on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from vmieval.cli.console import stderr

from vmieval.data import DATASETS, SPLITS, ImageData, fit_to_spec, load_images
from vmieval.errors import UsageError
from vmieval.frozen import FrozenVAE

DEFAULT_DATASET = "mnist"


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--dataset, --data-dir, --download, --split, --image-size, --limit."""
    options = [
        click.option("--dataset", type=click.Choice(DATASETS), default=None,
                     help="Images to use. Default: the checkpoint's training dataset, else mnist."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Folder holding the dataset's IDX files."),
        click.option("--download", is_flag=True, help="Download the dataset (torchvision) if it is not found."),
        click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True),
        click.option("--image-size", type=int, default=None,
                     help="Resize images to N x N. Default: the model's own size."),
        click.option("--limit", type=int, default=None, help="Use only the first N images of the split."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def dataset_for(models: list[FrozenVAE], requested: str | None) -> str:
    """--dataset, else the dataset the checkpoints record they were trained on, else mnist."""
    if requested is not None:
        return requested
    recorded = {str(m.training_record["dataset"]) for m in models if m.training_record.get("dataset")}
    if len(recorded) > 1:
        raise UsageError(f"the checkpoints were trained on different datasets ({', '.join(sorted(recorded))}); "
                         f"pass --dataset")  # fmt: skip
    found = recorded.pop() if recorded else None
    if found is not None and found not in DATASETS:
        stderr.print(f"[yellow]warning:[/] the checkpoint's dataset {found!r} is not one of ours; using mnist")
    return found if found in DATASETS else DEFAULT_DATASET


def load_for_models(
    models: list[FrozenVAE],
    dataset: str | None,
    data_dir: str | None,
    download: bool,
    split: str,
    image_size: int | None,
    limit: int | None,
) -> ImageData:
    """The split the options name, resized to the first model's spec unless --image-size is given."""
    name = dataset_for(models, dataset)
    data = load_images(name, split, data_dir=data_dir, download=download, image_size=image_size, limit=limit)
    if image_size is not None:
        return data
    fitted = fit_to_spec(data, models[0].spec)
    if fitted is not data:
        before = "x".join(map(str, data.images.shape[-2:]))
        after = "x".join(map(str, fitted.images.shape[-2:]))
        stderr.print(f"note: resized {name} images {before} -> {after} to fit the model (--image-size sets it)")
    return fitted
