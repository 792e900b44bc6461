"""vmieval: how much does a VAE's latent code really say about the data?

Load any frozen checkpoint safely (`load`), estimate the mutual information between chosen latent
blocks and the data (`vmieval.estimators`), and report it beside its KL upper bound, cluster
accuracy and traversal grids (`vmieval.analysis`, `vmieval.results`).
"""

__version__ = "0.1.0"

from vmieval.checkpoints import describe_checkpoint, load_checkpoint, save_native  # noqa: E402
from vmieval.errors import VmievalError  # noqa: E402
from vmieval.frozen import FrozenVAE  # noqa: E402
from vmieval.spec import ModelSpec, categorical, gaussian  # noqa: E402

load = load_checkpoint
save = save_native

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
