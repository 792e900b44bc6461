"""The data options shared by `mi-bound` and `report`, and loading the images they name.

One place decides which data a checkpoint is evaluated on: `--data` (alias `--dataset`), else the
dataset its training record names (foreign spellings such as JointVAE's `fashion_mnist` mapped to ours;
a name we cannot map is an error, never a silent fallback), else MNIST. The images are adapted to the
model's spec in the library (vmieval.data.fit), and any adaptation is said on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click
from vmieval.cli import output

from vmieval.choices import DATASETS, SPLITS
from vmieval.errors import UsageError

if TYPE_CHECKING:  # the data modules import torch: imported where used, so --help stays instant
    from vmieval.data import Dataset
    from vmieval.frozen import FrozenVAE

DEFAULT_DATASET = "mnist"
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
                          "images, or file.h5:images. Default: the checkpoint's training dataset, else mnist."),
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
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def dataset_for(models: list[FrozenVAE], requested: str | None) -> str:
    """--data, else the dataset the checkpoints record (mapped to our name), else mnist."""
    from vmieval.data import canonical_name

    if requested is not None:
        return requested
    recorded = {str(m.training_record["dataset"]) for m in models if m.training_record.get("dataset")}
    mapped = {text: canonical_name(text) for text in recorded}
    unknown = sorted(text for text, name in mapped.items() if name is None)
    if unknown:
        raise UsageError(
            f"the checkpoint was trained on {unknown[0]!r}, which vmieval cannot find by name; "
            "pass --data NAME, a .npz/.npy file, a folder or file.h5:images"
        )
    names = set(mapped.values())
    if len(names) > 1:
        raise UsageError(f"the checkpoints were trained on different datasets ({', '.join(sorted(names))}); "
                         f"pass --dataset or --data to choose")  # fmt: skip
    return names.pop() if names else DEFAULT_DATASET  # type: ignore[return-value]


def open_for_models(models: list[FrozenVAE], choice: DataChoice | None = None) -> Dataset:
    """The split the options name (`choice`, else the running command's) as a streaming Dataset whose
    batches fit the first model's spec (size from --image-size if given)."""
    from vmieval.data import Fit, open_dataset
    from vmieval.data.fit import check_side

    choice = choice or data_choice()
    image_size = choice.image_size
    spec = models[0].spec
    channels, height, width = spec.observation_shape
    if image_size is not None:
        check_side(image_size)
        height = width = image_size
    fit = Fit((channels, height, width), tuple(spec.value_range), choice.grey)  # type: ignore[arg-type]
    name = dataset_for(models, choice.dataset)
    data = open_dataset(name, choice.split, choice.data_dir, choice.download, choice.limit, choice.subsample_seed, fit)
    native, wanted = data.source.shape, data.shape
    if native != wanted and image_size is None:
        shown = slice(1, None) if native[0] == wanted[0] else slice(None)  # channels only when they change
        before, after = "x".join(map(str, native[shown])), "x".join(map(str, wanted[shown]))
        output.info(f"note: {data.name} images {before} -> {after} to fit the model (--image-size sets the size)")
    return data
