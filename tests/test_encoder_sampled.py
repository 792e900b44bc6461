"""The O(N·M) Monte-Carlo mixtures beside the exact O(N²) ones: I_q(x; t) from sampled references
(`aggregate.log_aggregate_sampled`, `factor_sampling.sampled_dim_terms`) against known answers and
against the exact sums on the same code draws."""

from __future__ import annotations

import math

import torch

from vmieval.distributions import GaussianPosterior
from vmieval.estimators.encoder import monte_carlo_mi
from vmieval.estimators.factor_sampling import sampled_dim_terms


def gaussian_channel(n: int, d: int, signal: float, noise: float, seed: int = 0) -> GaussianPosterior:
    """Posterior means μ_n ~ N(0, signal²·I), every posterior N(μ_n, noise²·I): for large N,
    I_q(x; z) → d/2 · log(1 + signal²/noise²)."""
    g = torch.Generator().manual_seed(seed)
    mean = signal * torch.randn(n, d, generator=g, dtype=torch.float64)
    return GaussianPosterior(mean, torch.full((n, d), 2 * math.log(noise), dtype=torch.float64))


def test_sampled_references_agree_with_the_exact_sum_and_the_channel_capacity() -> None:
    post = gaussian_channel(3000, 2, 1.0, 0.5)
    truth = math.log(1 + 1 / 0.25)  # d/2 · log(1 + 4) with d = 2
    exact = monte_carlo_mi([post], torch.Generator().manual_seed(1))
    sampled = monte_carlo_mi([post], torch.Generator().manual_seed(1), references=256)
    assert abs(exact[0] - truth) < 4 * exact[1] + 0.01
    assert abs(sampled[0] - exact[0]) < 3 * sampled[1], (sampled, exact)
    assert sampled[1] >= 0.9 * exact[1]  # the subsampling noise is inside the stderr, not hidden


def test_an_encoder_that_ignores_its_input_reads_exactly_zero_with_sampled_references() -> None:
    n = 500
    post = GaussianPosterior(torch.zeros(n, 2, dtype=torch.float64), torch.zeros(n, 2, dtype=torch.float64))
    value, stderr = monte_carlo_mi([post], torch.Generator().manual_seed(0), references=64)
    assert abs(value) < 1e-9 and stderr < 1e-9


def test_systematic_dim_terms_are_the_exact_ones_with_every_image_as_reference() -> None:
    post = gaussian_channel(400, 1, 1.0, 0.3, seed=2)
    exact = monte_carlo_mi([post], torch.Generator().manual_seed(3))
    terms = sampled_dim_terms(post.mean[:, 0], post.logvar[:, 0], torch.Generator().manual_seed(3), 399)
    assert abs(float(terms.mean()) - exact[0]) < 1e-6  # float32 densities in the sampled kernel


def test_systematic_dim_terms_agree_with_the_exact_sum_at_a_few_thousand_images() -> None:
    post = gaussian_channel(4000, 1, 1.0, 0.2, seed=4)
    exact = monte_carlo_mi([post], torch.Generator().manual_seed(5))
    terms = sampled_dim_terms(post.mean[:, 0], post.logvar[:, 0], torch.Generator().manual_seed(5), 256)
    stderr = float(terms.std() / math.sqrt(len(terms)))
    assert abs(float(terms.mean()) - exact[0]) < 3 * stderr + 0.01, (float(terms.mean()), exact)
