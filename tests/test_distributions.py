"""Posterior objects: layout, closed forms against torch.distributions, sampling, target slicing."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Normal, OneHotCategorical, kl_divergence

from vmieval.distributions import CategoricalPosterior, GaussianPosterior, Posterior, prior_entropy, target_values
from vmieval.spec import ModelSpec, parse_target


def gaussian_posterior(n: int = 7, d: int = 3, seed: int = 0) -> GaussianPosterior:
    g = torch.Generator().manual_seed(seed)
    return GaussianPosterior(torch.randn(n, d, generator=g).double(), torch.randn(n, d, generator=g).double())


def categorical_posterior(n: int = 7, k: int = 5, seed: int = 0) -> CategoricalPosterior:
    return CategoricalPosterior(3 * torch.randn(n, k, generator=torch.Generator().manual_seed(seed)).double())


def test_from_flat_cuts_the_spec_layout(joint_spec: ModelSpec) -> None:
    flat = torch.randn(5, joint_spec.param_width)
    post = Posterior.from_flat(joint_spec, flat)
    assert list(post) == ["z", "c"] and post.n == 5
    z, c = post["z"], post["c"]
    assert isinstance(z, GaussianPosterior) and isinstance(c, CategoricalPosterior)
    assert (
        torch.equal(z.mean, flat[:, :4]) and torch.equal(z.logvar, flat[:, 4:8]) and torch.equal(c.logits, flat[:, 8:])
    )


def test_gaussian_closed_forms_match_torch_distributions() -> None:
    p = gaussian_posterior()
    normal = Normal(p.mean, torch.exp(0.5 * p.logvar))
    prior = Normal(torch.zeros_like(p.mean), torch.ones_like(p.mean))
    value = torch.randn(p.mean.shape, dtype=torch.float64)
    assert torch.allclose(p.log_prob(value), normal.log_prob(value).sum(1))
    assert torch.allclose(p.kl_per_dim(), kl_divergence(normal, prior))
    assert torch.allclose(p.kl_to_prior(), kl_divergence(normal, prior).sum(1))
    assert torch.allclose(p.entropy(), normal.entropy().sum(1))
    assert torch.equal(p.mode(), p.mean)


def test_categorical_closed_forms_match_torch_distributions() -> None:
    p = categorical_posterior()
    cat = Categorical(logits=p.logits)
    uniform = Categorical(logits=torch.zeros_like(p.logits))
    index = torch.arange(p.n) % p.size
    assert torch.allclose(p.log_prob(index), cat.log_prob(index))
    assert torch.allclose(p.kl_to_prior(), kl_divergence(cat, uniform))
    assert torch.allclose(p.entropy(), cat.entropy())
    assert torch.equal(p.mode().argmax(1), p.logits.argmax(1))
    expected = torch.log(cat.probs.mean(0))
    assert torch.allclose(p.aggregate_log_probs(), expected)


def test_normalised_log_probs_are_used_as_given() -> None:
    p = categorical_posterior()
    held = p.normalise(torch.float64)
    assert held.normalised and torch.equal(held.log_probs, held.logits)
    assert torch.allclose(held.log_probs.exp().sum(1), torch.ones(p.n, dtype=torch.float64))


def test_known_kl_values() -> None:
    assert torch.allclose(GaussianPosterior(torch.zeros(1, 3), torch.zeros(1, 3)).kl_per_dim(), torch.zeros(1, 3))
    assert torch.allclose(
        GaussianPosterior(torch.full((1, 1), 2.0), torch.zeros(1, 1)).kl_to_prior(), torch.tensor([2.0])
    )
    assert torch.allclose(CategoricalPosterior(torch.zeros(1, 10)).kl_to_prior(), torch.zeros(1), atol=1e-6)
    one_hot = CategoricalPosterior(torch.tensor([[0.0, -1e9, -1e9, -1e9]]))
    assert torch.allclose(one_hot.kl_to_prior(), torch.log(torch.tensor([4.0])), atol=1e-5)
    assert one_hot.entropy().item() == 0.0  # 0 · log 0 is 0, not NaN


def test_sampling_follows_the_posterior_and_the_generator() -> None:
    n = 20_000
    g = GaussianPosterior(torch.full((n, 2), 1.5), torch.full((n, 2), math.log(0.25)))
    draws = g.sample(torch.Generator().manual_seed(0))
    assert draws.mean().item() == pytest.approx(1.5, abs=0.02) and draws.std().item() == pytest.approx(0.5, abs=0.02)
    assert torch.equal(draws, g.sample(torch.Generator().manual_seed(0)))
    probs = torch.tensor([0.7, 0.2, 0.1])
    c = CategoricalPosterior(torch.log(probs).expand(n, 3))
    one_hot = c.sample(torch.Generator().manual_seed(1))
    assert torch.allclose(one_hot.mean(0), probs, atol=0.02) and torch.equal(one_hot.sum(1), torch.ones(n))
    codes = c.sample_code(torch.Generator().manual_seed(2))
    assert torch.allclose(torch.bincount(codes, minlength=3) / n, probs, atol=0.02)
    relaxed = c.sample(torch.Generator().manual_seed(1), temperature=0.5)
    assert torch.allclose(relaxed.sum(1), torch.ones(n)) and torch.equal(relaxed.argmax(1), one_hot.argmax(1))
    exact = OneHotCategorical(probs=probs)
    assert torch.allclose(one_hot.mean(0), exact.mean, atol=0.02)


def test_slice_index_and_target_values(joint_spec: ModelSpec) -> None:
    post = Posterior.from_flat(joint_spec, torch.randn(6, joint_spec.param_width))
    parts = post.slice(parse_target("c,z[1:3]", joint_spec))
    assert parts[0] is post["c"]
    assert isinstance(parts[1], GaussianPosterior) and torch.equal(parts[1].mean, post["z"].mean[:, 1:3])
    rows = torch.tensor([4, 0])
    assert post.index(rows).n == 2 and torch.equal(post.index(rows)["z"].logvar, post["z"].logvar[rows])
    latent = post.sample(torch.Generator().manual_seed(0))
    values = target_values(joint_spec, parse_target("z[1:3],c", joint_spec), latent)
    assert torch.equal(values[0], latent["z"][:, 1:3]) and values[1] is latent["c"]


def test_prior_entropy(joint_spec: ModelSpec) -> None:
    assert prior_entropy(joint_spec, parse_target("c", joint_spec)) == pytest.approx(math.log(10))
    expected = math.log(10) + 2 * Normal(0.0, 1.0).entropy().item()
    assert prior_entropy(joint_spec, parse_target("c,z[0:2]", joint_spec)) == pytest.approx(expected)
