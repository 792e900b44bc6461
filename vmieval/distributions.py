"""Posterior parameters per latent block, sampling from them, and their closed-form KLs to the prior.

Networks output raw parameters; this module owns what they mean. Trainers and estimators both use
it, so the ELBO that trains a model and the KL bound that evaluates it are the same formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vmieval.spec import LatentBlock, ModelSpec, Target


@dataclass(frozen=True)
class GaussianPosterior:
    """q(z|x) = N(mean, diag(exp(logvar))); tensors [B, D]."""

    mean: torch.Tensor
    logvar: torch.Tensor


@dataclass(frozen=True)
class CategoricalPosterior:
    """q(c|x) = Cat(softmax(logits)); logits [B, K] (normalised or not)."""

    logits: torch.Tensor

    @property
    def log_probs(self) -> torch.Tensor:
        return F.log_softmax(self.logits, dim=-1)


BlockPosterior = GaussianPosterior | CategoricalPosterior
Posterior = dict[str, BlockPosterior]


def split_posterior(spec: ModelSpec, params: torch.Tensor) -> Posterior:
    """Cut the encoder's flat parameter vector [B, P] into one posterior per block."""
    out: Posterior = {}
    for block, (a, b) in zip(spec.blocks, spec.param_offsets().values(), strict=True):
        chunk = params[:, a:b]
        if block.kind == "gaussian":
            out[block.name] = GaussianPosterior(chunk[:, : block.size], chunk[:, block.size :])
        else:
            out[block.name] = CategoricalPosterior(chunk)
    return out


def join_posterior(spec: ModelSpec, posterior: Posterior) -> torch.Tensor:
    """Inverse of `split_posterior`: the flat [B, P] vector an exported encoder program returns."""
    pieces: list[torch.Tensor] = []
    for block in spec.blocks:
        p = posterior[block.name]
        pieces.extend([p.mean, p.logvar] if isinstance(p, GaussianPosterior) else [p.logits])
    return torch.cat(pieces, dim=1)


def sample_block(
    block: LatentBlock,
    posterior: BlockPosterior,
    generator: torch.Generator | None = None,
    temperature: float | None = None,
) -> torch.Tensor:
    """One sample per row: reparameterised Gaussian; one-hot categorical, or Gumbel-softmax
    relaxed with `temperature` (differentiable, used in training)."""
    if isinstance(posterior, GaussianPosterior):
        eps = torch.randn(posterior.mean.shape, generator=generator, device=posterior.mean.device)
        return posterior.mean + torch.exp(0.5 * posterior.logvar) * eps
    logits = posterior.log_probs
    u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_(1e-10, 1.0 - 1e-7)
    gumbel = -torch.log(-torch.log(u))
    if temperature is None:
        return F.one_hot((logits + gumbel).argmax(dim=-1), block.size).to(logits.dtype)
    return F.softmax((logits + gumbel) / temperature, dim=-1)


def sample_latent(
    spec: ModelSpec,
    posterior: Posterior,
    generator: torch.Generator | None = None,
    temperature: float | None = None,
) -> dict[str, torch.Tensor]:
    return {b.name: sample_block(b, posterior[b.name], generator, temperature) for b in spec.blocks}


def sample_prior(
    spec: ModelSpec, n: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Codes from p(z) = N(0, I) and p(c) = uniform one-hot."""
    out: dict[str, torch.Tensor] = {}
    for b in spec.blocks:
        if b.kind == "gaussian":
            out[b.name] = torch.randn(n, b.size, generator=generator, device=device)
        else:
            idx = torch.randint(0, b.size, (n,), generator=generator, device=device)
            out[b.name] = F.one_hot(idx, b.size).float()
    return out


def concat_latent(spec: ModelSpec, samples: dict[str, torch.Tensor]) -> torch.Tensor:
    """The decoder input: block samples concatenated in spec order, [B, latent_width]."""
    return torch.cat([samples[b.name] for b in spec.blocks], dim=1)


def kl_gaussian_per_dim(posterior: GaussianPosterior) -> torch.Tensor:
    """KL(N(mean, var) || N(0, 1)) for each dimension, [B, D] (nats)."""
    return 0.5 * (posterior.mean.pow(2) + posterior.logvar.exp() - 1.0 - posterior.logvar)


def kl_categorical_uniform(posterior: CategoricalPosterior) -> torch.Tensor:
    """KL(q(c|x) || Uniform(K)) = log K − H(q(c|x)), [B] (nats)."""
    log_p = posterior.log_probs
    k = log_p.shape[-1]
    return (log_p.exp() * log_p).sum(dim=-1) + math.log(k)


def aggregate_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """log of the aggregate posterior mean_n q(c|x_n), [K], from log q(c|x_n) [N, K]; keeps dtype
    and gradients (the trainers' aggregate-entropy bound differentiates through it)."""
    return torch.logsumexp(log_probs, dim=0) - math.log(log_probs.shape[0])


def categorical_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """H of each row of a [..., K] matrix of log-probabilities (nats); 0·log 0 taken as 0."""
    return -(log_probs.exp() * log_probs.nan_to_num(neginf=0.0)).sum(dim=-1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) summed over pixels, [B]; `x` in [0, 1] (continuous values: the usual relaxation)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(dim=1)


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(logvar)) per element (sum over the last axis for a diagonal Gaussian)."""
    return -0.5 * ((x - mean).pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi))


def gaussian_log_likelihood(mean: torch.Tensor, x: torch.Tensor, scale: float) -> torch.Tensor:
    """log N(x; mean, scale²) summed over pixels, [B]."""
    var = scale * scale
    ll = -0.5 * ((x - mean).pow(2) / var + math.log(2 * math.pi * var))
    return ll.flatten(1).sum(dim=1)


def prior_entropy(spec: ModelSpec, target: Target) -> float:
    """H of the target under the prior: log K per categorical part, ½·d·log(2πe) per Gaussian part."""
    total = 0.0
    for part in target.parts:
        block = spec.block(part.block)
        if block.kind == "categorical":
            total += math.log(block.size)
        else:
            d = block.size if part.start is None else part.stop - part.start  # type: ignore[operator]
            total += 0.5 * d * math.log(2 * math.pi * math.e)
    return total
