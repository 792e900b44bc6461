"""Named choices of vmieval's interface that the command line offers before it imports torch.

`vmieval mi-bound --help` lists the datasets, splits and checkpoint formats; defining them here (the
torch-importing modules that use them import them from here) keeps `--help` instant.
"""

from __future__ import annotations

IDX_DATASETS = ("mnist", "fashion-mnist", "mnist-sample")  # vmieval.data.idx
TORCHVISION_DATASETS = ("kmnist", "emnist", "cifar10", "cifar100", "svhn", "celeba")  # vmieval.data.torchvision_sets
SYNTHETIC_DATASETS = ("sprites", "sprites-rgb")  # vmieval.synthetic.source: generated, no files
DATASETS = (*IDX_DATASETS, *TORCHVISION_DATASETS, *SYNTHETIC_DATASETS)
SPLITS = ("train", "test", "valid")
CHECKPOINT_FORMATS = ("auto", "native", "exported", "jointvae", "pythae")  # vmieval.checkpoints.loader
