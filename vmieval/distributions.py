"""The model's distributions as objects: a posterior per latent kind, the priors and the likelihoods.

Networks output raw parameters; this module owns what they mean (in the spirit of beta-tcvae's
`lib/dist.py`). A block posterior carries its behaviour, so each formula lives once and trainers,
estimators and analyses share it: the ELBO that trains a model and the KL bound that evaluates it
are the same method.

- `GaussianPosterior` (mean, log-variance [N, D]) and `CategoricalPosterior` (logits [N, K]) have
  `n`, `log_prob`, `kl_to_prior`, `entropy`, `mode`, `index`, `to`, and generator-driven sampling.
- `Posterior` maps block names to them in spec order; `slice(target)` gives a target's parts (a
  categorical block, or the chosen dims of a Gaussian block): the one place a target cuts a block.

Sampling takes an explicit `torch.Generator` (torch.distributions' samplers take none, which is why
they are not used here). Random numbers are drawn in the posterior's own dtype.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from vmieval.spec import ModelSpec, Target, TargetPart

Rows = slice | torch.Tensor
LOG_2PI_E = math.log(2.0 * math.pi * math.e)


@dataclass(frozen=True)
class GaussianPosterior:
    """q(z|x) = N(mean, diag(exp(logvar))) for N rows; `mean`, `logvar` [N, D]; prior N(0, I)."""

    mean: torch.Tensor
    logvar: torch.Tensor
    kind: ClassVar[str] = "gaussian"

    @property
    def n(self) -> int:
        return int(self.mean.shape[0])

    @property
    def size(self) -> int:
        return int(self.mean.shape[1])

    def index(self, rows: Rows) -> GaussianPosterior:
        return GaussianPosterior(self.mean[rows], self.logvar[rows])

    def dims(self, columns: range) -> GaussianPosterior:
        """The marginal of dims `columns` (a diagonal Gaussian's dims are independent)."""
        return GaussianPosterior(
            self.mean[:, columns.start : columns.stop], self.logvar[:, columns.start : columns.stop]
        )

    def to(self, dtype: torch.dtype) -> GaussianPosterior:
        return GaussianPosterior(self.mean.to(dtype), self.logvar.to(dtype))

    def sample(self, generator: torch.Generator | None = None, temperature: float | None = None) -> torch.Tensor:
        """One reparameterised draw per row, [N, D] (`temperature` is for categorical blocks)."""
        eps = torch.randn(self.mean.shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + torch.exp(0.5 * self.logvar) * eps

    def sample_code(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A code as the estimators hold it: the values [N, D]."""
        return self.sample(generator)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log q(value_n | x_n) for each row's own value [N, D], summed over dims: [N]."""
        return gaussian_log_density(value, self.mean, self.logvar).sum(1)

    def kl_per_dim(self) -> torch.Tensor:
        """KL(N(mean, var) || N(0, 1)) for each dimension, [N, D] (nats)."""
        return 0.5 * (self.mean.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def kl_to_prior(self) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) per row, [N]."""
        return self.kl_per_dim().sum(dim=1)

    def entropy(self) -> torch.Tensor:
        """H(q(z|x)) = ½ Σ_d (log σ²_d + log 2πe) per row, [N]."""
        return 0.5 * (self.logvar + LOG_2PI_E).sum(dim=1)

    def mode(self) -> torch.Tensor:
        """The most probable code, the mean [N, D] (a copy, safe to edit)."""
        return self.mean.clone()


@dataclass(frozen=True)
class CategoricalPosterior:
    """q(c|x) = Cat(softmax(logits)) for N rows; `logits` [N, K]; prior uniform over K.

    `normalised` says the logits already are log-probabilities (estimators hold them so, in float64),
    so `log_probs` returns them as they are instead of normalising again.
    """

    logits: torch.Tensor
    normalised: bool = False
    kind: ClassVar[str] = "categorical"

    @property
    def n(self) -> int:
        return int(self.logits.shape[0])

    @property
    def size(self) -> int:
        return int(self.logits.shape[1])

    @property
    def log_probs(self) -> torch.Tensor:
        """log q(c=k|x) [N, K] (log_softmax of the logits; keeps gradients)."""
        return self.logits if self.normalised else F.log_softmax(self.logits, dim=-1)

    def index(self, rows: Rows) -> CategoricalPosterior:
        return CategoricalPosterior(self.logits[rows], self.normalised)

    def to(self, dtype: torch.dtype) -> CategoricalPosterior:
        return CategoricalPosterior(self.logits.to(dtype), self.normalised)

    def normalise(self, dtype: torch.dtype = torch.float64) -> CategoricalPosterior:
        """The same posterior holding log-probabilities in `dtype` (normalised in the logits' dtype)."""
        return CategoricalPosterior(self.log_probs.to(dtype), normalised=True)

    def sample(self, generator: torch.Generator | None = None, temperature: float | None = None) -> torch.Tensor:
        """One draw per row as a decoder input [N, K]: an exact one-hot (Gumbel-max), or the
        Gumbel-softmax relaxation at `temperature` (differentiable, used in training)."""
        log_p = self.log_probs
        u = torch.rand(log_p.shape, generator=generator, dtype=log_p.dtype, device=log_p.device)
        gumbel = -torch.log(-torch.log(u.clamp_(1e-10, 1.0 - 1e-7)))
        if temperature is None:
            return F.one_hot((log_p + gumbel).argmax(dim=-1), self.size).to(log_p.dtype)
        return F.softmax((log_p + gumbel) / temperature, dim=-1)

    def sample_code(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A code as the estimators hold it: the category index [N]."""
        return torch.multinomial(self.log_probs.exp(), 1, generator=generator).squeeze(1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log q(c = value_n | x_n) for each row's own index [N]: [N]."""
        return self.log_probs.gather(1, value.long().unsqueeze(1)).squeeze(1)

    def kl_to_prior(self) -> torch.Tensor:
        """KL(q(c|x) || Uniform(K)) = log K − H(q(c|x)) per row, [N]."""
        log_p = self.log_probs
        return (log_p.exp() * log_p).sum(dim=-1) + math.log(self.size)

    def entropy(self) -> torch.Tensor:
        """H(q(c|x)) per row, [N]."""
        return categorical_entropy(self.log_probs)

    def mode(self) -> torch.Tensor:
        """The most probable category of each row as a one-hot decoder input [N, K]."""
        return F.one_hot(self.log_probs.argmax(dim=1), self.size).to(self.logits.dtype)

    def aggregate_log_probs(self) -> torch.Tensor:
        """log q̄(c) = log mean_n q(c|x_n), [K]; keeps dtype and gradients (the trainers'
        aggregate-entropy bound differentiates through it)."""
        log_p = self.log_probs
        return torch.logsumexp(log_p, dim=0) - math.log(log_p.shape[0])


BlockPosterior = GaussianPosterior | CategoricalPosterior


class Posterior(Mapping[str, BlockPosterior]):
    """The posterior of every latent block of N inputs, in spec order: `posterior["c"]`."""

    def __init__(self, blocks: Mapping[str, BlockPosterior]) -> None:
        self._blocks = dict(blocks)

    @classmethod
    def from_flat(cls, spec: ModelSpec, params: torch.Tensor) -> Posterior:
        """Cut an encoder's flat parameter vector [N, P] (spec layout) into one posterior per block."""
        out: dict[str, BlockPosterior] = {}
        for block, (a, b) in zip(spec.blocks, spec.param_offsets().values(), strict=True):
            chunk = params[:, a:b]
            if block.kind == "gaussian":
                out[block.name] = GaussianPosterior(chunk[:, : block.size], chunk[:, block.size :])
            else:
                out[block.name] = CategoricalPosterior(chunk)
        return cls(out)

    def __getitem__(self, name: str) -> BlockPosterior:
        return self._blocks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    @property
    def n(self) -> int:
        """Number of inputs N the posterior was computed from."""
        return next(iter(self._blocks.values())).n

    def index(self, rows: Rows) -> Posterior:
        return Posterior({name: p.index(rows) for name, p in self._blocks.items()})

    def to(self, dtype: torch.dtype) -> Posterior:
        return Posterior({name: p.to(dtype) for name, p in self._blocks.items()})

    def sample(
        self, generator: torch.Generator | None = None, temperature: float | None = None
    ) -> dict[str, torch.Tensor]:
        """One decoder input per block and row (blocks drawn in spec order, so a seeded generator
        gives the same codes whatever consumes them)."""
        return {name: p.sample(generator, temperature) for name, p in self._blocks.items()}

    def mode(self) -> dict[str, torch.Tensor]:
        """The deterministic code of each row: Gaussian means, one-hot most probable categories."""
        return {name: p.mode() for name, p in self._blocks.items()}

    def kl_terms(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """KL to the prior per block [N], and per dim [N, D] for each Gaussian block (computed once)."""
        per_block: dict[str, torch.Tensor] = {}
        per_dim: dict[str, torch.Tensor] = {}
        for name, p in self._blocks.items():
            if isinstance(p, GaussianPosterior):
                per_dim[name] = p.kl_per_dim()
                per_block[name] = per_dim[name].sum(dim=1)
            else:
                per_block[name] = p.kl_to_prior()
        return per_block, per_dim

    def slice(self, target: Target) -> list[BlockPosterior]:
        """The posterior of each target part, in target order: a whole block, or Gaussian dims."""
        return [part_of(self._blocks[part.block], part) for part in target.parts]


def part_of(posterior: BlockPosterior, part: TargetPart) -> BlockPosterior:
    """A block's posterior restricted to what a target part names."""
    if isinstance(posterior, GaussianPosterior):
        return posterior.dims(part_columns(part, posterior.size))
    return posterior


def part_columns(part: TargetPart, block_size: int) -> range:
    """The dims of a block (of `block_size` columns) that a target part names: all, or its slice."""
    return range(block_size)[part.start : part.stop]


def part_width(spec: ModelSpec, part: TargetPart) -> int:
    return len(part_columns(part, spec.block(part.block).size))


def target_values(spec: ModelSpec, target: Target, latent: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
    """The target's parts of decoder inputs per block: a categorical block's (one-hot) [B, K] or the
    chosen Gaussian dims [B, d]."""
    out: list[torch.Tensor] = []
    for part in target.parts:
        cols = part_columns(part, spec.block(part.block).size)
        value = latent[part.block]
        out.append(value if len(cols) == value.shape[1] else value[:, cols.start : cols.stop])
    return out


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


def concat_latent(spec: ModelSpec, samples: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The decoder input: block samples concatenated in spec order, [B, latent_width]."""
    return torch.cat([samples[b.name] for b in spec.blocks], dim=1)


def categorical_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """H of each row of a [..., K] matrix of log-probabilities (nats); 0·log 0 taken as 0.

    Computed from log-probabilities (p·log p with the log given), which is exact where
    `torch.special.entr(p)` would take the log of exp(log p) again.
    """
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
            total += 0.5 * part_width(spec, part) * LOG_2PI_E
    return total
