"""The data options shared by `mi-bound` and `report`, and loading the images they name.

One place decides which data a checkpoint is evaluated on: `--data` (alias `--dataset`), else the
dataset its training record names (foreign spellings such as JointVAE's `fashion_mnist` mapped to ours;
a name we cannot map is an error, never a silent fallback), else MNIST. The images are adapted to the
model's spec in the library (vmieval.data.fit), and any adaptation is said on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from vmieval.cli import output

from vmieval.choices import DATASETS, SPLITS
from vmieval.errors import UsageError

if TYPE_CHECKING:  # the data modules import torch: imported where used, so --help stays instant
    from vmieval.data import Dataset, ImageData
    from vmieval.frozen import FrozenVAE

DEFAULT_DATASET = "mnist"
_META = "vmieval.data_options"  # click ctx.meta key for the options commands do not take as arguments


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_META, {})[param.name] = value
    return value


def data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--data/--dataset, --data-dir, --download, --split, --image-size, --limit, --subsample-seed, --grey.

    The last two reach `load_for_models` through click's context (expose_value=False), so commands that
    take the first six as arguments need no change.
    """
    options = [
        click.option("--data", "--dataset", "dataset", default=None, metavar="NAME|PATH",
                     help=f"Images to use: a dataset ({', '.join(DATASETS)}), a .npz/.npy file, a folder of "
                          "images, or file.h5:images. Default: the checkpoint's training dataset, else mnist."),
        click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                     help="Folder holding a named dataset's files (not used with a file or folder --data)."),
        click.option("--download", is_flag=True, help="Download a named dataset (torchvision) if it is not found."),
        click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True,
                     help="Split of a named dataset; for a file or folder, only the label recorded."),
        click.option("--image-size", type=int, default=None,
                     help="Resize images to N x N. Default: the model's own size."),
        click.option("--limit", type=int, default=None,
                     help="Use only N images: the first N, or N drawn with --subsample-seed."),
        click.option("--subsample-seed", type=int, default=None, expose_value=False, callback=_remember,
                     help="With --limit, draw the N images at random with this seed (stored order kept)."),
        click.option("--grey", is_flag=True, expose_value=False, callback=_remember,
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


def load_for_models(
    models: list[FrozenVAE],
    dataset: str | None,
    data_dir: str | None,
    download: bool,
    split: str,
    image_size: int | None,
    limit: int | None,
) -> ImageData:
    """`open_for_models`, held in memory as float32 (what the MNIST-sized commands take)."""
    return open_for_models(models, dataset, data_dir, download, split, image_size, limit).to_memory()


def open_for_models(
    models: list[FrozenVAE],
    dataset: str | None,
    data_dir: str | None,
    download: bool,
    split: str,
    image_size: int | None,
    limit: int | None,
) -> Dataset:
    """The split the options name as a streaming Dataset whose batches fit the first model's spec
    (size from --image-size if given); --subsample-seed and --grey come from click's context."""
    from vmieval.data import Fit, open_dataset
    from vmieval.data.fit import check_side

    extra = click.get_current_context(silent=True)
    meta = extra.meta.get(_META, {}) if extra is not None else {}
    spec = models[0].spec
    channels, height, width = spec.observation_shape
    if image_size is not None:
        check_side(image_size)
        height = width = image_size
    fit = Fit((channels, height, width), tuple(spec.value_range), bool(meta.get("grey")))  # type: ignore[arg-type]
    name = dataset_for(models, dataset)
    data = open_dataset(name, split, data_dir, download, limit, meta.get("subsample_seed"), fit)
    native, wanted = data.source.shape, data.shape
    if native != wanted and image_size is None:
        shown = slice(1, None) if native[0] == wanted[0] else slice(None)  # channels only when they change
        before, after = "x".join(map(str, native[shown])), "x".join(map(str, wanted[shown]))
        output.info(f"note: {data.name} images {before} -> {after} to fit the model (--image-size sets the size)")
    return data
