"""The two training objectives of VMI-VAE: the negative ELBO and the variational MI regulariser.

One forward pass serves both. An image batch x [B, C, H, W] is encoded into posterior parameters,
a code is drawn per block (reparameterised Gaussian; Gumbel-softmax relaxed one-hot for a
categorical block, so gradients reach the encoder), and decoded into likelihood parameters. Then
- ELBO(x) = log p(x|z, c) - sum_blocks KL(q(block|x) || p(block)), per image [B];
- the Barber-Agakov bound on I(target; x_hat) = H(target) + E[log Q(target | x_hat)], where
  x_hat is the decoder MEAN of the same forward pass and Q is `vmieval.estimators.decoder.qnet.QNetwork`.
For a categorical target, Q is scored against the relaxed sample itself (cross-entropy with the
soft one-hot; exact log Q(c|x_hat) once codes are hard, as in evaluation): asked for the hard
Gumbel-max index instead, the decoder learns to write that index into x_hat whatever the encoder
does, the bound saturates at H and the encoder never has to infer c. A soft sample is peaked only
where q(c|x) is, so the bound rewards a confident encoder, and with the aggregate H a confident AND
diverse one, which is I_q(x;c) itself. With the prior H (log K) the same pressure is met by sending
every image to one category (the bound reads log K while I_q(x;c) = 0), which is why the presets
train with `aggregate`. The measurements behind both statements are in benchmarks/README.md.

Posteriors, KLs and samples are the objects of `vmieval.distributions`, the same ones the
estimators evaluate a frozen model with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vmieval.distributions import (
    BlockPosterior,
    CategoricalPosterior,
    GaussianPosterior,
    Posterior,
    bernoulli_log_likelihood,
    categorical_entropy,
    concat_latent,
    gaussian_log_likelihood,
    prior_entropy,
    target_values,
)
from vmieval.estimators.decoder.qnet import QNetwork
from vmieval.spec import ModelSpec, Target


@dataclass(frozen=True)
class ForwardPass:
    """One encode-sample-decode pass over a batch of B images.

    `samples` are the decoder inputs per block; `targets` the MI target per Q part (the relaxed
    or hard one-hot [B, K] of a categorical part, the sampled dims [B, d] of a Gaussian slice); `x_hat` the decoder
    mean [B, C, H, W]; `log_px` [B]; `kl` per block [B]; `kl_dims` per Gaussian block [B, D].
    """

    posterior: Posterior
    samples: dict[str, torch.Tensor]
    targets: list[torch.Tensor]
    x_hat: torch.Tensor
    log_px: torch.Tensor
    kl: dict[str, torch.Tensor]
    kl_dims: dict[str, torch.Tensor]

    @property
    def elbo(self) -> torch.Tensor:
        """log p(x|code) - total KL, per image [B] (nats)."""
        return self.log_px - sum(self.kl.values())


def forward(
    module: nn.Module,
    spec: ModelSpec,
    target: Target,
    x: torch.Tensor,
    generator: torch.Generator,
    temperature: float | None,
) -> ForwardPass:
    """Encode, sample (relaxed at `temperature`; hard one-hot when None) and decode a batch."""
    posterior = Posterior.from_flat(spec, module.encode(x))
    samples = posterior.sample(generator, temperature)
    out = module.decode(concat_latent(spec, samples))
    if spec.likelihood == "bernoulli":
        log_px, x_hat = bernoulli_log_likelihood(out, x), torch.sigmoid(out)
    else:
        if spec.likelihood_scale is None:
            raise ValueError("training a Gaussian likelihood needs a fixed likelihood_scale in the spec")
        log_px, x_hat = gaussian_log_likelihood(out, x, spec.likelihood_scale), out
    kl, kl_dims = posterior.kl_terms()
    return ForwardPass(posterior, samples, target_values(spec, target, samples), x_hat, log_px, kl, kl_dims)


def target_entropy(spec: ModelSpec, target: Target, posterior: Mapping[str, BlockPosterior], mode: str) -> torch.Tensor:
    """H(target) in nats, a scalar tensor (differentiable in `aggregate` mode).

    `prior`: log K per categorical part, 0.5·d·log(2πe) per Gaussian slice (the N(0, I) prior).
    `aggregate`: H(mean_x q(c|x)) over the batch for a categorical part, the entropy of the
    distribution the codes were really drawn from, so an encoder that maps every input to one
    category gets H ~ 0 instead of log K. Gaussian slices keep the prior entropy in both modes
    (no closed form for a mixture of Gaussians; see `entropy_note`).
    """
    first = next(iter(posterior.values()))
    device = first.mean.device if isinstance(first, GaussianPosterior) else first.logits.device
    total = torch.zeros((), device=device)
    for part in target.parts:
        post = posterior[part.block]
        if mode == "aggregate" and isinstance(post, CategoricalPosterior):
            total = total + categorical_entropy(post.aggregate_log_probs())
        else:
            total = total + prior_entropy(spec, Target((part,)))
    return total


def entropy_note(spec: ModelSpec, target: Target, mode: str) -> str:
    """What H in the recorded MI bound means, in words (stored in the training record)."""
    kinds = {spec.block(p.block).kind for p in target.parts}
    if mode == "aggregate" and "gaussian" in kinds:
        return "aggregate entropy for categorical parts; Gaussian dims fall back to the N(0, I) prior entropy"
    if mode == "aggregate":
        return "H = entropy of the batch aggregate posterior mean_x q(c|x)"
    return "H = prior entropy (log K; 0.5*d*log(2*pi*e) for Gaussian dims)"


@dataclass(frozen=True)
class MIBound:
    """H + E[log Q(target | x_hat)]: `entropy` scalar, `log_q` [B], `value` scalar (nats)."""

    entropy: torch.Tensor
    log_q: torch.Tensor

    @property
    def value(self) -> torch.Tensor:
        return self.entropy + self.log_q.mean()


def mi_bound(q: QNetwork, fp: ForwardPass, spec: ModelSpec, target: Target, mode: str) -> MIBound:
    """The Barber-Agakov bound on I(target; x_hat) for this batch; gradients reach the VAE."""
    return MIBound(target_entropy(spec, target, fp.posterior, mode), q.log_likelihood(fp.x_hat, fp.targets))


def q_loss(q: QNetwork, fp: ForwardPass) -> torch.Tensor:
    """-E[log Q(target | x_hat)] with the VAE side detached: the Q step only tightens the bound."""
    targets = [t.detach() for t in fp.targets]
    return -q.log_likelihood(fp.x_hat.detach(), targets).mean()


def consistency_divergence(clean: Posterior, augmented: Posterior) -> torch.Tensor:
    """sum over categorical blocks of KL(q(c|x) || q(c|x_aug)), per image [B], the clean side detached.

    The augmentation-consistency term of the MI regulariser (as in IMSAT's self-augmentation): the
    clean posterior is the target, so only the view's code moves towards it and the term cannot be
    met by blurring the clean code. It is 0, with a zero gradient, when both views agree, and large
    where a small move of the image changes the category.
    """
    total: torch.Tensor | None = None
    for name, post in clean.items():
        if not isinstance(post, CategoricalPosterior):
            continue
        view = augmented[name]
        if not isinstance(view, CategoricalPosterior):
            raise ValueError(f"block {name!r} is categorical in one view only")
        kl = F.kl_div(view.log_probs, post.log_probs.detach(), reduction="none", log_target=True).sum(dim=1)
        total = kl if total is None else total + kl
    if total is None:
        raise ValueError("the consistency term needs a categorical block")
    return total
