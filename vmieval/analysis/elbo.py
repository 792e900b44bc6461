"""The ELBO of a frozen model on a split, and its KL term per block and per dimension.

    ELBO(x) = E_{q(z,c|x)} log p(x | z, c) - sum_blocks KL(q(block|x) || p(block))

The KLs are closed form, computed once per image when the split was encoded (`EncodedSplit.kl`,
the posterior objects' `kl_to_prior`, the same formula the trainers optimise); the reconstruction
term is a Monte-Carlo average over `samples` codes per image drawn with the given generator
(categorical codes as exact one-hot samples, not relaxed) and decoded by the model. Standard errors are over
images (the spread of per-image values / sqrt(N)), so they say how well the split pins down the
mean, not how noisy one image is.

The per-block KL E_x KL(q(c|x) || p(c)) is also the KL upper bound on the encoder-side I_q(x; c),
and the per-dim Gaussian KLs show which dims are in use (a dim with KL ~ 0 is ignored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from vmieval.distributions import bernoulli_log_likelihood, gaussian_log_likelihood
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError
from vmieval.estimators.estimate import mean_and_stderr
from vmieval.frozen import FrozenVAE


@dataclass(frozen=True)
class ElboConfig:
    """`samples`: Monte-Carlo codes per image for the reconstruction term; `decode_batch`: images
    per decoder call (the codes of one batch are drawn together, so it fixes the random stream)."""

    samples: int = 1
    decode_batch: int = 500


@dataclass(frozen=True)
class ElboResult:
    """Means over the N images of `split`, in nats per image, with standard errors.

    `elbo`/`recon` are NaN (with a `note`) when the likelihood cannot be scored (a Gaussian
    likelihood whose scale the spec does not state). `kl_block` maps each block to its mean KL;
    `kl_per_dim` maps each Gaussian block to its mean KL per dim [D].
    """

    split: str
    n: int
    samples: int
    elbo: float
    elbo_stderr: float
    recon: float
    recon_stderr: float
    kl_block: dict[str, float] = field(default_factory=dict)
    kl_block_stderr: dict[str, float] = field(default_factory=dict)
    kl_per_dim: dict[str, np.ndarray] = field(default_factory=dict)
    note: str = ""


@torch.no_grad()
def elbo_analysis(
    model: FrozenVAE,
    split: EncodedSplit,
    generator: torch.Generator | None = None,
    config: ElboConfig = ElboConfig(),
) -> ElboResult:
    """ELBO, reconstruction and KL terms of `model` on every image of the encoded split."""
    if config.samples < 1:
        raise UsageError(f"ELBO samples must be at least 1, got {config.samples}")
    if config.decode_batch < 1:
        raise UsageError(f"ELBO decode batch must be at least 1, got {config.decode_batch}")
    spec = model.spec
    kl_block, kl_block_stderr = {}, {}
    for name, values in split.kl.items():
        kl_block[name], kl_block_stderr[name] = mean_and_stderr(values)
    kl_per_dim = {name: values.double().mean(dim=0).numpy() for name, values in split.kl_per_dim.items()}
    if spec.likelihood == "gaussian" and spec.likelihood_scale is None:
        nan = math.nan
        note = "Gaussian likelihood with a learned scale the spec does not state: ELBO not computed"
        return ElboResult(split.split, split.n, config.samples, nan, nan, nan, nan, kl_block, kl_block_stderr,
                          kl_per_dim, note)  # fmt: skip

    recon_rows: list[torch.Tensor] = []
    for rows, images in split.image_batches(config.decode_batch):  # a streamed split is read again here
        posterior = split.posterior.index(rows)
        x = images.to(model.device)
        total = torch.zeros(x.shape[0], device=model.device)
        for _ in range(config.samples):
            params = model.decode(posterior.sample(generator))
            if spec.likelihood == "bernoulli":
                total += bernoulli_log_likelihood(params, x)
            else:
                total += gaussian_log_likelihood(params, x, float(spec.likelihood_scale))
        recon_rows.append((total / config.samples).cpu())
    recon_per_image = torch.cat(recon_rows)
    elbo_per_image = recon_per_image - sum(split.kl.values())
    recon, recon_se = mean_and_stderr(recon_per_image)
    elbo, elbo_se = mean_and_stderr(elbo_per_image)
    return ElboResult(split.split, split.n, config.samples, elbo, elbo_se, recon, recon_se, kl_block, kl_block_stderr,
                      kl_per_dim)  # fmt: skip
