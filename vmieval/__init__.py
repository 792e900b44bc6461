"""vmieval: how much does a VAE's latent code really say about the data?

Load any frozen checkpoint safely (`load`), estimate the mutual information between chosen latent
blocks and the data (`vmieval.estimators`), and report it beside its KL upper bound, cluster
accuracy and traversal grids (`vmieval.analysis`, `vmieval.results`).

The names below are imported on first use (`vmieval.lazy`): `import vmieval` does not import torch,
so the command line starts instantly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vmieval.lazy import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from vmieval.checkpoints import describe_checkpoint, load_checkpoint, save_native
    from vmieval.errors import VmievalError
    from vmieval.frozen import FrozenVAE
    from vmieval.spec import ModelSpec, categorical, gaussian

    load = load_checkpoint
    save = save_native

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "FrozenVAE": "vmieval.frozen",
        "ModelSpec": "vmieval.spec",
        "VmievalError": "vmieval.errors",
        "categorical": "vmieval.spec",
        "describe_checkpoint": "vmieval.checkpoints",
        "gaussian": "vmieval.spec",
        "load": "vmieval.checkpoints:load_checkpoint",
        "load_checkpoint": "vmieval.checkpoints",
        "save": "vmieval.checkpoints:save_native",
        "save_native": "vmieval.checkpoints",
    },
)

__all__ = [
    "FrozenVAE",
    "ModelSpec",
    "VmievalError",
    "categorical",
    "describe_checkpoint",
    "gaussian",
    "load",
    "load_checkpoint",
    "save",
    "save_native",
    "__version__",
]
