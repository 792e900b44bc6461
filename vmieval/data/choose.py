"""Which images a checkpoint is scored on: the one decision, for the CLI and the Python API alike.

`open_for_model(model, data=None, ...)`: the data named (`--data`), else the dataset the checkpoint's
training record names (foreign spellings such as JointVAE's `fashion_mnist` mapped to ours), as a
streaming Dataset whose batches fit the model's spec. Nothing is guessed: a recorded name vmieval
cannot map, models recorded on different datasets, or a checkpoint that records none (and no `data`)
is one UsageError that says what to pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vmieval.errors import UsageError

if TYPE_CHECKING:
    from vmieval.data.dataset import Dataset
    from vmieval.frozen import FrozenVAE

NAME_HINT = "pass --data NAME (e.g. mnist), a .npz/.npy file, a folder of images or file.h5:images"


def _where(model: FrozenVAE) -> str:
    info = getattr(model, "info", None)
    return str(getattr(info, "path", "") or "the checkpoint")


def dataset_for(models: Sequence[FrozenVAE], data: str | None = None, data_dir: str | Path | None = None) -> str:
    """`data`, else the dataset the checkpoints record (mapped to our name); anything else is a UsageError."""
    from vmieval.data.resolve import canonical_name

    if data is not None:
        return data
    recorded = {str(m.training_record["dataset"]) for m in models if m.training_record.get("dataset")}
    mapped = {text: canonical_name(text) for text in recorded}
    unknown = sorted(text for text, name in mapped.items() if name is None)
    if unknown:
        raise UsageError(
            f"the checkpoint was trained on {unknown[0]!r}, which vmieval cannot find by name; {NAME_HINT}"
        )
    names = set(mapped.values())
    if len(names) > 1:
        raise UsageError(f"the checkpoints were trained on different datasets ({', '.join(sorted(names))}); "
                         f"pass --data to choose")  # fmt: skip
    if not names:
        which = _where(models[0]) if len(models) == 1 else "the checkpoints"
        raise UsageError(f"{which} records no training dataset; {NAME_HINT}")
    name = names.pop()
    if name == "mnist-sample" and data_dir is not None:
        raise UsageError(
            f"{_where(models[0])} was trained on the shipped mnist-sample, which needs no --data-dir; "
            f"to score it on the MNIST files in {data_dir}, add --data mnist"
        )
    return name  # type: ignore[return-value]


def open_for_models(
    models: Sequence[FrozenVAE],
    data: str | None = None,
    split: str = "test",
    data_dir: str | Path | None = None,
    *,
    download: bool = False,
    image_size: int | None = None,
    limit: int | None = None,
    subsample_seed: int | None = None,
    grey: bool = False,
    allow_external: bool = False,
    say: Callable[[str], None] | None = None,
) -> Dataset:
    """The split `dataset_for` picks, streamed in batches that fit the first model's spec (`image_size`
    overrides its side; `allow_external` lets an HDF5 file read data stored in other files). `say` hears a
    one-line note when the images are resized or recoloured."""
    from vmieval.data.conform import Fit, check_side
    from vmieval.data.resolve import open_dataset

    spec = models[0].spec
    channels, height, width = spec.observation_shape
    if image_size is not None:
        check_side(image_size)
        height = width = image_size
    fit = Fit((channels, height, width), tuple(spec.value_range), grey)  # type: ignore[arg-type]
    name = dataset_for(models, data, data_dir)
    dataset = open_dataset(name, split, data_dir, download, limit, subsample_seed, fit, allow_external=allow_external)
    native, wanted = dataset.source.shape, dataset.shape
    if native != wanted and image_size is None and say is not None:
        shown = slice(1, None) if native[0] == wanted[0] else slice(None)  # channels only when they change
        before, after = "x".join(map(str, native[shown])), "x".join(map(str, wanted[shown]))
        say(f"note: {dataset.name} images {before} -> {after} to fit the model (--image-size sets the size)")
    return dataset


def open_for_model(model: FrozenVAE, data: str | None = None, split: str = "test", **options: object) -> Dataset:
    """`open_for_models` for one model: `vmieval.data.open_for_model(vmieval.load("model.pt"))` scores it
    on the dataset it was trained on; `data="mnist"`, a file or a folder names other images."""
    return open_for_models([model], data, split, **options)  # type: ignore[arg-type]
