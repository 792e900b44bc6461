"""Synthetic models whose mutual information is known, for `calibration.py`.

Decoder side (I(c; x_hat) or I(z; x_hat), codes from the prior unless noted): each is a FrozenVAE built
from plain callables, so the whole estimator path (pairs, Q, bounds) runs as it does on a real model.
- K-way symmetric channel, error rate ε: x_hat shows c' = c with probability 1 − ε, else one of the
  other K − 1 categories uniformly (chosen by a Gaussian latent u = Φ(z)). With code marginal p(c),
  I = Σ p(c) T(c'|c) log(T(c'|c) / p(c')); for uniform p(c) that is log K − h(ε) − ε log(K − 1).
  The posterior-code variant draws c from an encoder whose aggregate is far from uniform. The graded
  variant (as on a real model: most images clear, a few ambiguous) also moves z's posterior mean with
  how sharp q(c|x) is, so clear images almost never flip and ambiguous ones often do: the images then
  differ far more than two draws from one image do. I = I(c; c') under p(c, c') = mean_x q(c|x) T_x.
- K templates plus noise: x_hat = μ_c + σ·ξ in D dims; I = log K + E log p(c | x_hat), computed by
  Monte Carlo with the exact posterior (200,000 draws, Monte-Carlo error < 1e-3 nats).
- linear-Gaussian channel: x_hat = z[0:2] + s·ξ; I = log(1 + 1/s²) for the 2 dims.
Encoder side (I_q(x; t) under a population p(x), images drawn afresh per seed):
- categorical: M image types drawn uniformly, q(c | type) = softmax(β·W[type]); closed-form I_q,
  E KL(q || uniform), and I_q(y; c) for labels y = type mod L.
- Gaussian: x ~ N(0, τ² I_2), q(z | x) = N(x, σ² I): I_q = log(1 + τ²/σ²), KL per dim
  ½(τ² + σ² − 1 − log σ²).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian

INFO = CheckpointInfo("calibration", "synthetic", "", "callables")


def entropy(p: torch.Tensor) -> float:
    p = p[p > 0]
    return float(-(p * p.log()).sum())


def channel_matrix(k: int, eps: float) -> torch.Tensor:
    """T[c, c'] of the symmetric channel [K, K]."""
    return torch.full((k, k), eps / (k - 1), dtype=torch.float64).fill_diagonal_(1.0 - eps)


def channel_mi(p_c: torch.Tensor, k: int, eps: float) -> float:
    joint = p_c.double().unsqueeze(1) * channel_matrix(k, eps)
    return entropy(joint.sum(0)) + entropy(p_c.double()) - entropy(joint.flatten())


def symmetric_channel(k: int, eps: float, encode: Any = None) -> FrozenVAE:
    """Latent [z (1), c (K)] -> 1x1xK Bernoulli logits ±6 on the one-hot of c'. The encoder (unless
    given) reads an image's K values as logits of q(c|x) (z ~ N(0, 1) whatever the image)."""
    spec = ModelSpec((1, 1, k), (gaussian("z", 1), categorical("c", k)))

    def decode(latent: torch.Tensor) -> torch.Tensor:
        u, c = torch.special.ndtr(latent[:, 0]), latent[:, 1:].argmax(1)
        shift = 1 + torch.clamp((u / eps * (k - 1)).floor().long(), max=k - 2) if eps > 0 else 0
        flipped = torch.where(u < eps, (c + shift) % k, c)
        return (12.0 * F.one_hot(flipped, k).float() - 6.0).view(-1, 1, 1, k)

    def logits_only(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.zeros(x.shape[0], 2), x.flatten(1)], 1)

    return FrozenVAE(spec, encode or logits_only, decode, INFO)


def flip_table(k: int, eps: float, mean: float) -> torch.Tensor:
    """P(shift) [K] of the symmetric channel when z ~ N(mean, 1): shift 0 keeps c, shift j ≥ 1 is
    taken for u = Φ(z) in [ε(j−1)/(K−1), εj/(K−1))."""
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    edges = normal.icdf(torch.linspace(0.0, eps, k, dtype=torch.float64)) - mean  # −inf first
    cdf = normal.cdf(edges)
    return torch.cat([1.0 - cdf[-1:], cdf[1:] - cdf[:-1]])


def graded_channel(k: int, eps: float) -> tuple[FrozenVAE, Any]:
    """`symmetric_channel` whose encoder also sets z's posterior mean from the image's largest logit
    β: (2/3)(β − 3) − 2, so β = 12 gives 4 (flips ~1e-12) and β = 3 gives −2 (flips ~0.19).
    Returns the model and `truth(images)`, the exact I(c; c') under those images' posterior codes."""

    def z_mean(x: torch.Tensor) -> torch.Tensor:
        return (2.0 / 3.0) * (x.flatten(1).max(1).values - 3.0) - 2.0

    def encode(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([z_mean(x).unsqueeze(1), torch.zeros(x.shape[0], 1), x.flatten(1)], 1)

    def truth(images: torch.Tensor) -> float:
        q = torch.softmax(images.flatten(1).double(), 1)
        joint = torch.zeros(k, k, dtype=torch.float64)
        shifts = torch.arange(k)
        for q_x, mean in zip(q, z_mean(images).tolist(), strict=True):
            table = flip_table(k, eps, mean)
            for c in range(k):
                joint[c, (c + shifts) % k] += q_x[c] * table
        joint /= images.shape[0]
        return entropy(joint.sum(0)) + entropy(joint.sum(1)) - entropy(joint.flatten())

    return symmetric_channel(k, eps, encode), truth


def templates_model(k: int, dim: int, sigma: float) -> tuple[FrozenVAE, float]:
    """x_hat = μ_c + σ·z (Gaussian likelihood) with fixed random ±1 templates; returns (model, I)."""
    mu = torch.randint(0, 2, (k, dim), generator=torch.Generator().manual_seed(7)).float() * 2 - 1
    spec = ModelSpec((1, 1, dim), (gaussian("z", dim), categorical("c", k)), likelihood="gaussian",
                     likelihood_scale=1.0)  # fmt: skip

    def decode(latent: torch.Tensor) -> torch.Tensor:
        return (latent[:, dim:] @ mu + sigma * latent[:, :dim]).view(-1, 1, 1, dim)

    g = torch.Generator().manual_seed(11)
    c = torch.randint(0, k, (200_000,), generator=g)
    x = mu[c].double() + sigma * torch.randn(200_000, dim, generator=g, dtype=torch.float64)
    log_post = torch.log_softmax(-((x.unsqueeze(1) - mu.double()) ** 2).sum(2) / (2 * sigma**2), dim=1)
    truth = math.log(k) + float(log_post.gather(1, c.unsqueeze(1)).mean())
    return FrozenVAE(spec, lambda x: torch.zeros(x.shape[0], 2 * dim + k), decode, INFO), truth


def linear_gaussian(noise: float) -> FrozenVAE:
    """x_hat = z[0:2] + noise · z[2:4]."""
    spec = ModelSpec((1, 1, 2), (gaussian("z", 4),), likelihood="gaussian", likelihood_scale=1.0)
    decode = lambda z: (z[:, :2] + noise * z[:, 2:]).view(-1, 1, 1, 2)  # noqa: E731
    return FrozenVAE(spec, lambda x: torch.zeros(x.shape[0], 8), decode, INFO)


@dataclass(frozen=True)
class DecoderCase:
    """One decoder-side setting: `images` only for posterior codes (fixed across seeds)."""

    name: str
    model: FrozenVAE
    target: str
    codes: str
    samples: int
    truth: float
    images: torch.Tensor | None = None


def decoder_cases(quick: bool) -> list[DecoderCase]:
    cases: list[DecoderCase] = []
    uniform = lambda k: torch.full((k,), 1.0 / k)  # noqa: E731
    for k, eps, n in ((2, 0.01, 2000), (2, 0.2, 2000), (10, 0.002, 4000), (10, 0.05, 4000), (10, 0.05, 1000),
                      (10, 0.3, 4000)):  # fmt: skip
        cases.append(DecoderCase(f"symmetric K={k} eps={eps} S={n}", symmetric_channel(k, eps), "c", "prior", n,
                                 channel_mi(uniform(k), k, eps)))  # fmt: skip
    # posterior codes: 2,000 images, q(c|x) = softmax(5·onehot(type)), types drawn with weights 1..K
    k, eps = 10, 0.05
    g = torch.Generator().manual_seed(3)
    types = torch.multinomial(torch.arange(1, k + 1).double(), 2000, replacement=True, generator=g)
    images = (5.0 * F.one_hot(types, k).float()).view(-1, 1, 1, k)
    p_c = torch.softmax(images.flatten(1).double(), 1).mean(0)
    cases.append(DecoderCase(f"symmetric K={k} eps={eps} S=4000, posterior codes", symmetric_channel(k, eps), "c",
                             "posterior", 4000, channel_mi(p_c, k, eps), images))  # fmt: skip
    # graded posterior codes: 2,000 images, 90% clear (β = 12), 10% ambiguous (β = 3), types uniform
    k, eps = 10, 0.002
    g = torch.Generator().manual_seed(4)
    types = torch.randint(0, k, (2000,), generator=g)
    beta = torch.where(torch.rand(2000, generator=g) < 0.1, 3.0, 12.0)
    images = (beta.unsqueeze(1) * F.one_hot(types, k).float()).view(-1, 1, 1, k)
    graded, graded_truth = graded_channel(k, eps)
    cases.append(DecoderCase(f"symmetric K={k} eps={eps} S=4000, graded posterior codes", graded, "c", "posterior",
                             4000, graded_truth(images), images))  # fmt: skip
    model, truth = templates_model(10, 8, 0.9)
    cases.append(DecoderCase("10 templates + noise (D=8, sigma=0.9) S=4000", model, "c", "prior", 4000, truth))
    cases.append(DecoderCase("linear-Gaussian z[0:2], s=0.5, S=4000", linear_gaussian(0.5), "z[0:2]", "prior", 4000,
                             math.log(1 + 1 / 0.25)))  # fmt: skip
    if quick:
        cases = [c for c in cases if c.name.startswith(("symmetric K=2 eps=0.2", "linear"))]
    return cases


@dataclass(frozen=True)
class EncoderCase:
    """Images are drawn afresh for each seed by `draw(n, generator) -> (images, labels)`;
    `truth` maps (quantity, kind) to the population value."""

    name: str
    model: FrozenVAE
    target: str
    n: int
    draw: Any
    truth: dict[tuple[str, str], float]


def categorical_encoder_case(k: int, types: int, beta: float, labels: int, n: int) -> EncoderCase:
    w = beta * torch.randn(types, k, generator=torch.Generator().manual_seed(5))
    spec = ModelSpec((1, 1, types), (categorical("c", k),))
    model = FrozenVAE(spec, lambda x: x.flatten(1) @ w, lambda z: torch.zeros(z.shape[0], 1, 1, types), INFO)
    q = torch.softmax(w.double(), 1)
    q_bar = q.mean(0)
    h_each = torch.tensor([entropy(row) for row in q])
    y = torch.arange(types) % labels
    h_y = sum(entropy(q[y == v].mean(0)) * float((y == v).double().mean()) for v in range(labels))

    def draw(n_images: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.randint(0, types, (n_images,), generator=g)
        return F.one_hot(t, types).float().view(-1, 1, 1, types), t % labels

    truth = {
        ("I_q(x; c)", "exact"): entropy(q_bar) - float(h_each.mean()),
        ("I_q(x; c)", "upper_bound"): math.log(k) - float(h_each.mean()),
        ("I_q(y; c)", "exact"): entropy(q_bar) - h_y,
    }
    return EncoderCase(f"categorical encoder K={k}, {types} types, beta={beta}, N={n}", model, "c", n, draw, truth)


def gaussian_encoder_case(tau: float, sigma: float, n: int) -> EncoderCase:
    spec = ModelSpec((1, 1, 2), (gaussian("z", 2),))
    logvar = math.log(sigma**2)
    model = FrozenVAE(spec, lambda x: torch.cat([x.flatten(1), torch.full((x.shape[0], 2), logvar)], 1),
                      lambda z: torch.zeros(z.shape[0], 1, 1, 2), INFO)  # fmt: skip

    def draw(n_images: int, g: torch.Generator) -> tuple[torch.Tensor, None]:
        return tau * torch.randn(n_images, 1, 1, 2, generator=g), None

    kl = 0.5 * (tau**2 + sigma**2 - 1 - logvar)
    truth = {
        ("I_q(x; z[0:2])", "estimate"): math.log(1 + tau**2 / sigma**2),
        ("I_q(x; z[0:2])", "upper_bound"): 2 * kl,
        ("I_q(x; z[0:1])", "upper_bound"): kl,
        ("I_q(x; z[1:2])", "upper_bound"): kl,
    }
    return EncoderCase(f"Gaussian encoder tau={tau}, sigma={sigma}, N={n}", model, "z[0:2]", n, draw, truth)


def encoder_cases(quick: bool) -> list[EncoderCase]:
    cases = [categorical_encoder_case(10, 20, beta, 4, n) for beta in (0.3, 2.0) for n in (300, 3000)]
    cases += [gaussian_encoder_case(1.0, sigma, n) for sigma in (0.5, 0.1) for n in (300, 2000)]
    return cases[::3] if quick else cases
