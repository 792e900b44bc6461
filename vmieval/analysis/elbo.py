"""The ELBO of a frozen model on a split, and its KL term per block and per dimension.

    ELBO(x) = E_{q(z,c|x)} log p(x | z, c) - sum_blocks KL(q(block|x) || p(block))

The KLs are closed form (`vmieval.distributions`, the same formulas the trainers optimise); the
reconstruction term is a Monte-Carlo average over `samples` codes per image drawn with the given
generator (categorical codes as exact one-hot samples, not relaxed). Standard errors are over
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

from vmieval.data import ImageData
from vmieval.distributions import (
    CategoricalPosterior,
    bernoulli_log_likelihood,
    gaussian_log_likelihood,
    kl_categorical_uniform,
    kl_gaussian_per_dim,
    sample_latent,
)
from vmieval.errors import UsageError
from vmieval.estimators.estimate import mean_and_stderr
from vmieval.frozen import FrozenVAE


@dataclass(frozen=True)
class ElboConfig:
    """`samples`: Monte-Carlo codes per image for the reconstruction term."""

    samples: int = 1
    batch_size: int = 500


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

    @property
    def kl_total(self) -> float:
        return float(sum(self.kl_block.values()))


def elbo_analysis(
    model: FrozenVAE,
    data: ImageData,
    generator: torch.Generator | None = None,
    config: ElboConfig = ElboConfig(),
) -> ElboResult:
    """ELBO, reconstruction and KL terms of `model` on every image of `data`."""
    if len(data) == 0:
        raise UsageError("the ELBO needs at least one image")
    if config.samples < 1:
        raise UsageError(f"ELBO samples must be at least 1, got {config.samples}")
    spec = model.spec
    scorable = spec.likelihood == "bernoulli" or spec.likelihood_scale is not None
    recon_rows: list[torch.Tensor] = []
    kl_rows: dict[str, list[torch.Tensor]] = {b.name: [] for b in spec.blocks}
    kl_dims: dict[str, list[torch.Tensor]] = {b.name: [] for b in spec.blocks if b.kind == "gaussian"}
    for start in range(0, len(data), config.batch_size):
        x = data.images[start : start + config.batch_size]
        posterior = model.encode(x)
        x = x.to(model.device)
        for block in spec.blocks:
            p = posterior[block.name]
            if isinstance(p, CategoricalPosterior):
                kl_rows[block.name].append(kl_categorical_uniform(p).cpu())
            else:
                per_dim = kl_gaussian_per_dim(p).cpu()
                kl_dims[block.name].append(per_dim)
                kl_rows[block.name].append(per_dim.sum(dim=1))
        if not scorable:
            continue
        total = torch.zeros(x.shape[0], device=model.device)
        for _ in range(config.samples):
            params = model.decode(sample_latent(spec, posterior, generator))
            if spec.likelihood == "bernoulli":
                total += bernoulli_log_likelihood(params, x)
            else:
                total += gaussian_log_likelihood(params, x, float(spec.likelihood_scale))
        recon_rows.append((total / config.samples).cpu())

    kl_per_image = {name: torch.cat(rows) for name, rows in kl_rows.items()}
    kl_block, kl_block_stderr = {}, {}
    for name, values in kl_per_image.items():
        kl_block[name], kl_block_stderr[name] = mean_and_stderr(values)
    kl_per_dim = {name: torch.cat(rows).double().mean(dim=0).numpy() for name, rows in kl_dims.items()}
    if scorable:
        recon_per_image = torch.cat(recon_rows)
        elbo_per_image = recon_per_image - sum(kl_per_image.values())
        recon, recon_se = mean_and_stderr(recon_per_image)
        elbo, elbo_se = mean_and_stderr(elbo_per_image)
        note = ""
    else:
        recon = recon_se = elbo = elbo_se = math.nan
        note = "Gaussian likelihood with a learned scale the spec does not state: ELBO not computed"
    return ElboResult(
        split=data.split,
        n=len(data),
        samples=config.samples,
        elbo=elbo,
        elbo_stderr=elbo_se,
        recon=recon,
        recon_stderr=recon_se,
        kl_block=kl_block,
        kl_block_stderr=kl_block_stderr,
        kl_per_dim=kl_per_dim,
        note=note,
    )
