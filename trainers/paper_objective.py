"""The VMI-VAE paper's loss, in the paper's own units (../shared/PAPER-PROTOCOL.md, "Loss").

VAE step, per batch of B images x in [-1, 1]:
    mean-MSE(x_hat, x) + kl_w · (KL_gauss + KL_cat) + lam · sum_p w_p · CE_p
where each KL is summed over dims and averaged over the batch, and CE_p = mean_b -log Q(t_p | x_hat)
for target part p: against the relaxed (soft) Gumbel-softmax sample for c (gradients reach the
encoder through it and the decoder through x_hat), the Gaussian NLL of the sampled dims for z[a:b].
Q step: the summed CE with the VAE frozen, on a fresh forward pass (the paper re-runs the VAE).
With `mi_on_prior` (the paper's Gaussian model) Q is also scored on images decoded from prior codes,
which are their own targets: Q sees [x_gen; x_hat] against [t_prior; t_posterior].

Up to the factor kl_w and a constant, this is -ELBO + (lam / kl_w) · sum_p w_p · CE_p under the
Gaussian likelihood the spec records (`TrainConfig.spec`), so the ELBO the history and `report`
show is the model's real ELBO. The pieces reuse `objectives.forward` (encode, sample, decode, KL).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from vmieval.trainers.objectives import ForwardPass

from vmieval.distributions import concat_latent, sample_prior, target_values
from vmieval.estimators.decoder.qnet import QNetwork
from vmieval.spec import ModelSpec, Target


@dataclass(frozen=True)
class QBatch:
    """What Q is scored on: `images` [M, C, H, W] and, per target part, the codes they came from [M, d]."""

    images: torch.Tensor
    targets: list[torch.Tensor]

    def detached(self) -> QBatch:
        return QBatch(self.images.detach(), [t.detach() for t in self.targets])


@dataclass(frozen=True)
class PaperTerms:
    """One VAE step's loss `total` and its terms (scalars): `mse`, `kl` per block, `ce` per target part."""

    total: torch.Tensor
    mse: torch.Tensor
    kl: dict[str, torch.Tensor]
    ce: list[torch.Tensor]


def q_batch(
    module: nn.Module, spec: ModelSpec, target: Target, fp: ForwardPass, generator: torch.Generator, on_prior: bool
) -> QBatch:
    """Q's inputs for this pass: the reconstructions (and, `on_prior`, as many decoded prior codes first)."""
    if not on_prior:
        return QBatch(fp.x_hat, fp.targets)
    prior = sample_prior(spec, fp.x_hat.shape[0], generator, fp.x_hat.device)
    x_gen = module.decode(concat_latent(spec, prior))
    targets = [torch.cat([p, t]) for p, t in zip(target_values(spec, target, prior), fp.targets, strict=True)]
    return QBatch(torch.cat([x_gen, fp.x_hat]), targets)


def cross_entropies(q: QNetwork, batch: QBatch) -> list[torch.Tensor]:
    """mean_b -log Q(t_p | x_b) per target part p (scalars)."""
    return [-log_q.mean() for log_q in q.log_likelihood_parts(batch.images, batch.targets)]


def vae_terms(
    fp: ForwardPass,
    x: torch.Tensor,
    kl_weight: float,
    q: QNetwork | None = None,
    batch: QBatch | None = None,
    mi_weights: tuple[float, ...] = (),
) -> PaperTerms:
    """The VAE step's loss. `mi_weights` are lam·w_p per part; without Q (the ELBO model) no MI term."""
    mse = F.mse_loss(fp.x_hat, x)
    kl = {name: value.mean() for name, value in fp.kl.items()}
    total = mse + kl_weight * sum(kl.values())
    ce: list[torch.Tensor] = []
    if q is not None and batch is not None:
        ce = cross_entropies(q, batch)
        total = total + sum(w * term for w, term in zip(mi_weights, ce, strict=True))
    return PaperTerms(total, mse, kl, ce)


def q_step_loss(q: QNetwork, batch: QBatch) -> torch.Tensor:
    """The Q step's loss: the unweighted sum of the parts' cross-entropies, the VAE side detached."""
    return sum(cross_entropies(q, batch.detached()), torch.zeros((), device=batch.images.device))
