"""Known-answer tests for InfoNCE, NWJ and the interpolated bound (vmieval.estimators.decoder.variational).

The channel is a tiny FrozenVAE: K categories shown as K templates, except that with probability ε
(chosen by a Gaussian latent) another category's template is shown, so I(c; x_hat) =
log K − h(ε) − ε·log(K − 1) under uniform codes. Every bound must stay under that truth (up to noise)
and under its own cap (InfoNCE: log N for a batch of N).
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from vmieval.data import ImageData
from vmieval.encoded import encode_split
from vmieval.estimators import MIConfig
from vmieval.estimators.decoder.bound import code_log_marginal
from vmieval.estimators.decoder.fit import fit_q
from vmieval.estimators.decoder.pairs import generate_pairs
from vmieval.estimators.decoder.qnet import QNetwork, QPart, q_parts
from vmieval.estimators.decoder.variational import critic_scores, interpolated_terms, variational_terms
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target

INFO = CheckpointInfo("test", "test", "", "callables")
K = 10


def channel(eps: float) -> FrozenVAE:
    spec = ModelSpec((1, 1, K), (gaussian("z", 1), categorical("c", K)))

    def decode(latent: torch.Tensor) -> torch.Tensor:
        u, c = torch.special.ndtr(latent[:, 0]), latent[:, 1:].argmax(1)
        shift = 1 + torch.clamp((u / eps * (K - 1)).floor().long(), max=K - 2)
        shown = torch.where(u < eps, (c + shift) % K, c)
        return (12.0 * F.one_hot(shown, K).float() - 6.0).view(-1, 1, 1, K)

    return FrozenVAE(spec, lambda x: torch.zeros(x.shape[0], 2 + K), decode, INFO)


def true_mi(eps: float) -> float:
    return math.log(K) + (1 - eps) * math.log(1 - eps) + eps * math.log(eps / (K - 1))


@pytest.fixture(scope="module")
def fitted() -> tuple[QNetwork, object, object, float]:
    """A Q fitted to the ε = 0.05 channel, with fresh validation and held-out pairs."""
    eps = 0.05
    model = channel(eps)
    target = parse_target("c", model.spec)
    g = torch.Generator().manual_seed(0)
    pairs = generate_pairs(model, target, "prior", 6000, g)
    config = MIConfig(target="c", codes="prior", samples=6000, q_hidden=32, max_epochs=20, patience=3)
    q, _ = fit_q(pairs.select(slice(0, 3000)), pairs.select(slice(3000, 3500)), q_parts(model.spec, target), config, g)
    return q, pairs.select(slice(3500, 3700)), pairs.select(slice(3700, 6000)), true_mi(eps)


def test_critic_diagonal_is_log_q_for_categorical_and_gaussian_parts() -> None:
    torch.manual_seed(0)
    q = QNetwork((1, 2, 3), (QPart("categorical", "c", 4), QPart("gaussian", "z[0:2]", 2)), "mlp", 16)
    x = torch.rand(7, 1, 2, 3)
    codes = [torch.randint(0, 4, (7,)), torch.randn(7, 2)]
    scores = critic_scores(q, x, codes)
    assert scores.shape == (7, 7)
    assert torch.allclose(scores.diagonal(), q.log_likelihood(x, codes).detach().double(), atol=1e-5)
    # column j scores every code against image j: code 0 against image 3
    one = q.log_likelihood(x[3:4], [c[0:1] for c in codes]).detach()
    assert scores[0, 3] == pytest.approx(float(one), abs=1e-5)


def test_infonce_terms_never_exceed_log_n_and_ignore_image_offsets() -> None:
    g = torch.Generator().manual_seed(1)
    own, other = 5.0 * torch.randn(16, 16, generator=g, dtype=torch.float64), torch.randn(16, 16, dtype=torch.float64)
    own.diagonal().add_(60.0)  # a critic that singles out each pair's own code: terms hit the cap
    terms = interpolated_terms(own, other, 1.0, 0.0)
    assert float(terms.max()) <= math.log(16) + 1e-12 and float(terms.min()) > math.log(16) - 1e-6
    shifted = interpolated_terms(own + torch.randn(1, 16, dtype=torch.float64), other, 1.0, 0.0)
    assert torch.allclose(terms, shifted)  # f(t, x) + a(x) is the same InfoNCE critic


def test_alpha_endpoints_are_infonce_and_nwj() -> None:
    g = torch.Generator().manual_seed(2)
    own, other = (
        torch.randn(8, 8, generator=g, dtype=torch.float64),
        torch.randn(8, 8, generator=g, dtype=torch.float64),
    )
    log_a = -0.7
    nwj = 1.0 + own.diagonal() - log_a - torch.exp(torch.logsumexp(other, 0) - math.log(8) - log_a)
    assert torch.allclose(interpolated_terms(own, other, 0.0, log_a), nwj)
    near_one = interpolated_terms(own, other, 1.0 - 1e-9, log_a)
    assert torch.allclose(near_one, interpolated_terms(own, other, 1.0, log_a), atol=1e-6)
    with pytest.raises(ValueError):
        interpolated_terms(own, other, 1.5, log_a)


def test_every_bound_stays_under_the_true_mi(fitted) -> None:
    q, val, test, truth = fitted
    bounds = variational_terms(q, test, val, batch=128)
    assert bounds.batch == 128 and bounds.caps["infonce"] == pytest.approx(math.log(128))
    assert bounds.log_baseline == pytest.approx(-math.log(K), abs=0.1)  # uniform codes: a ≈ 1/K
    for name in ("infonce", "nwj", "interpolated"):
        means = bounds.terms[name].view(-1, bounds.batch).mean(1)  # batch means: independent given Q
        value, se = float(means.mean()), float(means.std() / math.sqrt(means.shape[0]))
        assert value < truth + 3 * se, (name, value, truth)
        assert value > truth - 0.3, (name, value, truth)  # a good critic: tight to within finite-N effects


def test_small_batches_saturate_at_the_cap(fitted) -> None:
    """With N = 4 codes per batch InfoNCE can never reach I ≈ 2 nats: every term is ≤ log 4."""
    q, val, test, truth = fitted
    bounds = variational_terms(q, test, val, batch=4)
    infonce = bounds.terms["infonce"]
    assert float(infonce.max()) <= math.log(4) + 1e-9 < truth
    assert float(infonce.mean()) > math.log(4) - 0.5  # saturated, not merely loose
    interpolated = bounds.terms["interpolated"]
    assert float(interpolated.max()) <= bounds.caps["interpolated"] == pytest.approx(1 + math.log(4 / 0.5))
    assert float(interpolated.mean()) < truth


def test_density_ratio_critic_subtracts_each_codes_log_marginal() -> None:
    torch.manual_seed(3)
    q = QNetwork((1, 2, 3), (QPart("categorical", "c", 4),), "mlp", 16)
    x, codes = torch.rand(5, 1, 2, 3), [torch.randint(0, 4, (5,))]
    log_p = torch.randn(5, dtype=torch.float64)
    plain, ratio = critic_scores(q, x, codes), critic_scores(q, x, codes, log_p)
    assert torch.allclose(ratio, plain - log_p.unsqueeze(1))  # row i is code i: log Q(t_i|x_j) − log p(t_i)


def _encoder_split() -> tuple[FrozenVAE, object, torch.Tensor]:
    """A model whose encoder output is the image itself: z (2 dims: means, log-variances), c (3 logits)."""
    spec = ModelSpec((1, 1, 7), (gaussian("z", 2), categorical("c", 3)))
    model = FrozenVAE(spec, lambda x: x.flatten(1), lambda z: z[:, :7].view(-1, 1, 1, 7), INFO)
    images = torch.randn(6, 1, 1, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64).float()
    return model, encode_split(model, ImageData(images, None, "t", "test", "")), images.flatten(1).double()


def test_code_log_marginal_under_the_prior() -> None:
    spec = ModelSpec((1, 1, 7), (gaussian("z", 2), categorical("c", 3)))
    codes = [torch.tensor([0, 2]), torch.tensor([[0.0, 1.0], [2.0, -1.0]])]
    got = code_log_marginal(None, spec, parse_target("c,z[0:2]", spec), codes)
    normal = torch.distributions.Normal(0.0, 1.0)
    expected = -math.log(3) + normal.log_prob(codes[1].double()).sum(1)
    assert torch.allclose(got, expected)


def test_code_log_marginal_under_the_aggregate_posterior() -> None:
    model, split, enc = _encoder_split()
    c = torch.tensor([0, 1, 2, 1])
    got_c = code_log_marginal(split, model.spec, parse_target("c", model.spec), [c])
    q_bar = torch.softmax(enc[:, 4:], 1).mean(0)
    assert torch.allclose(got_c, q_bar.log()[c])
    z = torch.tensor([[0.3, -0.2], [1.5, 0.7]], dtype=torch.float64)
    got_z = code_log_marginal(split, model.spec, parse_target("z[0:2]", model.spec), [z])
    mean, std = enc[:, 0:2], (0.5 * enc[:, 2:4]).exp()
    densities = torch.distributions.Normal(mean.unsqueeze(0), std.unsqueeze(0)).log_prob(z.unsqueeze(1)).sum(2).exp()
    assert torch.allclose(got_z, densities.mean(1).log())


def test_density_ratio_baseline_is_one_for_a_normalised_q(fitted) -> None:
    """E over mismatched pairs of Q(t|x)/p(t) is ∫Q(t|x)dt = 1 for any normalised Q: log a ≈ 0
    (with log Q alone it is log 1/K under uniform codes)."""
    q, val, test, truth = fitted
    uniform = lambda pairs: replace(pairs, log_marginal=torch.full((len(pairs),), -math.log(K), dtype=torch.float64))  # noqa: E731
    bounds = variational_terms(q, uniform(test), uniform(val), batch=128)
    assert bounds.log_baseline == pytest.approx(0.0, abs=0.1)
    plain = variational_terms(q, test, val, batch=128)
    # under uniform codes log p is a constant: InfoNCE is unchanged, NWJ keeps its value (its baseline absorbs it)
    assert torch.allclose(bounds.terms["infonce"], plain.terms["infonce"])
    assert torch.allclose(bounds.terms["nwj"], plain.terms["nwj"], atol=1e-9)
