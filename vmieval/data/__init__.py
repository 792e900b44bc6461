"""Images for evaluation, from any source, through one Dataset interface (docs/data.md has the table).

Sources, one module each, all producing native pixels by index:
- `idx`: MNIST, Fashion-MNIST and the shipped MNIST sample (IDX files, bounded before decompressing);
- `arrays`: `.npy` / `.npz` (dSprites' own layout included), streamed in batches;
- `folder`: a folder of images (class subfolders -> labels, flat -> unlabelled);
- `hdf5`: `file.h5:images` with labels or factors beside it (3D Shapes' layout included);
- `torchvision_sets`: KMNIST, EMNIST, CIFAR-10/100, SVHN, CelebA through torchvision, download=False.
`dataset.Dataset` streams them as model-ready batches (`conform.py` is the one place where pixels are
scaled, recoloured and resized to a spec); `ImageData` is a split held in memory with the same surface.
`resolve.open_dataset` turns what a user typed (`--data`) into a Dataset; `choose.open_for_model` decides
which data a checkpoint is scored on (`--data`, else its recorded dataset).
"""

from vmieval.data.choose import open_for_model, open_for_models
from vmieval.data.conform import Fit
from vmieval.data.dataset import Batch, Dataset, FileRecord, ImageData, RawBatch, Source
from vmieval.data.idx import DEBIAN_FASHION_DIR, ENV_VAR, IDX_DATASETS, default_cache_dir, fetch_dataset, read_idx
from vmieval.data.resolve import (
    DATASETS,
    SPLITS,
    DataRef,
    canonical_name,
    fit_to_spec,
    load_images,
    open_dataset,
    open_source,
    parse_data,
)

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_DIR",
    "ENV_VAR",
    "IDX_DATASETS",
    "SPLITS",
    "Batch",
    "DataRef",
    "Dataset",
    "FileRecord",
    "Fit",
    "ImageData",
    "RawBatch",
    "Source",
    "canonical_name",
    "default_cache_dir",
    "fetch_dataset",
    "fit_to_spec",
    "load_images",
    "open_dataset",
    "open_for_model",
    "open_for_models",
    "open_source",
    "parse_data",
    "read_idx",
]
