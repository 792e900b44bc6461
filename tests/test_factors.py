"""Known-answer tests for the factor estimators (vmieval.estimators.factors).

Posteriors are built directly as [N, D] means and log-variances, so each true value is known:
factors copied into single latents (MIG = 1), latents that all carry the same mixture of every
factor (MIG = 0), and z = a·v + noise with a balanced binary v, whose I(z; v) is a one-dimensional
integral that scipy computes independently of the estimator.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.stats import norm

from vmieval.errors import UsageError
from vmieval.estimators.factors import (
    FactorConfig,
    discretize,
    factor_entropies,
    factor_mi,
    factor_report,
    histogram_mig,
)

SHARP = math.log(0.05**2)  # posterior sd 0.05: classes one unit apart never overlap


def grid(*sizes: int, repeat: int = 1) -> np.ndarray:
    """Every combination of factor classes, `repeat` times: [repeat·∏sizes, F] (independent factors)."""
    return np.array(list(itertools.product(*(range(s) for s in sizes))) * repeat, dtype=np.int64)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_factors_copied_into_single_latents_give_mig_one() -> None:
    factors = grid(3, 4, 5, repeat=10)
    n = len(factors)
    ignored = torch.zeros(n, 1, dtype=torch.float64)  # z3 ignores the image
    mean = torch.cat([torch.from_numpy(factors[:, [2, 0, 1]]).double(), ignored], dim=1)
    logvar = torch.full_like(mean, SHARP)
    logvar[:, 3] = 0.0
    report = factor_report(mean, logvar, factors, gen(), ("a", "b", "c"), config=FactorConfig(bootstrap=5))
    mi = report.mi
    h = factor_entropies(factors)
    np.testing.assert_allclose(h, np.log([3, 4, 5]))
    # each factor sits in exactly one latent: I = H(v) there, 0 elsewhere
    expected = np.zeros((4, 3))
    expected[[1, 2, 0], [0, 1, 2]] = h
    np.testing.assert_allclose(mi.values, expected, atol=1e-3)
    assert np.isfinite(mi.stderr).all()
    assert report.mig.value == pytest.approx(1.0, abs=1e-3)
    assert report.mig.top_two[:, 0].tolist() == [1, 2, 0]
    assert report.histogram_mig.value == pytest.approx(1.0, abs=1e-9)
    assert np.isfinite(report.histogram_mig.stderr)
    assert not mi.near_cap  # many images share each posterior: far below log N


def test_random_independent_factors_copied_give_mig_near_one() -> None:
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, 3, 2000), rng.integers(0, 6, 2000)], axis=1)
    mean = torch.from_numpy(factors).double() * 2.0
    report = factor_report(mean, torch.full_like(mean, SHARP), factors, gen(), config=FactorConfig(bootstrap=0))
    # finite-sample dependence between independently drawn factors is O(K²/N): well under 0.05
    assert report.mig.value == pytest.approx(1.0, abs=0.03)
    assert report.histogram_mig.value == pytest.approx(1.0, abs=0.03)
    assert math.isnan(report.histogram_mig.stderr)


def test_latents_that_all_mix_every_factor_give_mig_zero() -> None:
    factors = grid(2, 3, 4, repeat=40)
    mixed = torch.from_numpy(factors @ np.array([2.0, 1.3, 0.7])).double()
    mean = mixed.unsqueeze(1).repeat(1, 3)  # three latents, each the same mixture of all factors
    logvar = torch.full_like(mean, math.log(0.5**2))
    report = factor_report(mean, logvar, factors, gen(), config=FactorConfig(bootstrap=0))
    assert (report.mi.values > 0.05).all()  # every latent says something about every factor
    assert report.mig.value < max(0.03, 4 * report.mig.stderr)
    assert report.histogram_mig.value == pytest.approx(0.0, abs=1e-12)


def mixture_mi(a: float, sigma: float) -> float:
    """I(z; v) for v ~ Bernoulli(½), z | v ~ N(a·v, σ²): H(z) by quadrature minus ½ log(2πeσ²)."""

    def density(z: float) -> float:
        return 0.5 * (norm.pdf(z, 0.0, sigma) + norm.pdf(z, a, sigma))

    h_z, _ = integrate.quad(lambda z: -density(z) * math.log(density(z)), -12 * sigma, a + 12 * sigma, limit=200)
    return h_z - 0.5 * math.log(2 * math.pi * math.e * sigma**2)


@pytest.mark.parametrize(("a", "sigma"), [(1.5, 1.0), (3.0, 0.5)])
def test_gaussian_latent_of_a_binary_factor_matches_numerical_integration(a: float, sigma: float) -> None:
    n = 3000
    v = np.repeat([0, 1], n // 2)[:, None]
    mean = torch.stack([torch.from_numpy(a * v[:, 0]).double(), torch.zeros(n, dtype=torch.float64)], dim=1)
    logvar = torch.full_like(mean, 2 * math.log(sigma))
    logvar[:, 1] = 0.0  # z[1] ignores the image: I = 0
    mi, _ = factor_mi(mean, logvar, v, gen(3), ("v",))
    truth = mixture_mi(a, sigma)
    assert 0.1 < truth < math.log(2)
    assert abs(mi.values[0, 0] - truth) < 4 * mi.stderr[0, 0] + 1e-3, (mi.values[0, 0], mi.stderr[0, 0], truth)
    assert abs(mi.values[1, 0]) < 4 * mi.stderr[1, 0] + 1e-9
    # z depends on x only through v here, so I_q(x; z) = I_q(z; v) as well
    assert abs(mi.latent_info[0] - truth) < 4 * mi.latent_info_stderr[0] + 1e-3
    assert mi.factor_entropy[0] == pytest.approx(math.log(2))


def test_sharp_distinct_posteriors_are_flagged_as_saturated() -> None:
    n = 400
    v = np.arange(n)[:, None] % 2
    mean = torch.stack([torch.arange(n).double(), 1000 * torch.randn(n, generator=gen(2)).double()], dim=1)
    mi, _ = factor_mi(mean, torch.full_like(mean, SHARP), v, gen())
    assert mi.near_cap == ("z[0]", "z[1]")  # each code identifies its image ...
    assert mi.values[0, 0] == pytest.approx(math.log(2), abs=1e-3)  # ... hence the factor,
    assert mi.values[1, 0] == pytest.approx(math.log(2), abs=0.05)  # even for pure noise


def test_single_class_factor_is_left_out_of_mig_and_named() -> None:
    factors = np.stack([np.zeros(120, dtype=np.int64), grid(4, repeat=30)[:, 0]], axis=1)
    mean = torch.stack([torch.from_numpy(factors[:, 1]).double(), torch.zeros(120, dtype=torch.float64)], dim=1)
    report = factor_report(mean, torch.full_like(mean, SHARP), factors, gen(), ("colour", "shape"),
                           config=FactorConfig(bootstrap=3))  # fmt: skip
    assert report.mig.skipped == ("colour",) and report.histogram_mig.skipped == ("colour",)
    assert math.isnan(report.mig.gaps[0]) and report.mig.value == pytest.approx(1.0, abs=1e-3)


def test_discretize_follows_disentanglement_lib_bins() -> None:
    values = np.arange(40, dtype=np.float64).reshape(20, 2)  # each column: 20 evenly spaced values
    binned = discretize(values, bins=20)
    assert binned[:, 0].tolist() == list(range(1, 21)) and binned[:, 1].tolist() == list(range(1, 21))
    assert discretize(values, bins=4)[:, 0].tolist() == [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5


def test_histogram_bootstrap_is_seeded() -> None:
    factors = grid(3, 3, repeat=20)
    means = factors + np.random.default_rng(0).normal(0, 0.8, factors.shape)
    a = histogram_mig(means, factors, ("p", "q"), FactorConfig(bootstrap=10, seed=4))[1]
    b = histogram_mig(means, factors, ("p", "q"), FactorConfig(bootstrap=10, seed=4))[1]
    assert a.stderr == b.stderr and a.stderr > 0


@pytest.mark.parametrize(
    "factors",
    [np.full((10, 2), 0.5), np.zeros((9, 2), dtype=np.int64), np.zeros(10, dtype=np.int64)],
    ids=["continuous", "wrong-n", "1-d"],
)
def test_bad_factors_are_one_line_usage_errors(factors: np.ndarray) -> None:
    mean = torch.zeros(10, 2, dtype=torch.float64)
    with pytest.raises(UsageError):
        factor_mi(mean, mean, factors, gen())


def test_whole_float_factors_are_classes() -> None:
    factors = grid(2, 3, repeat=20)
    mean = torch.from_numpy(factors).double()
    logvar = torch.full_like(mean, SHARP)
    as_int, _ = factor_mi(mean, logvar, factors, gen())
    as_float, _ = factor_mi(mean, logvar, torch.from_numpy(factors.astype(np.float64)), gen())
    np.testing.assert_array_equal(as_int.values, as_float.values)


def test_mig_needs_two_latents() -> None:
    mean = torch.zeros(10, 1, dtype=torch.float64)
    with pytest.raises(UsageError, match="two latent"):
        factor_report(mean, mean, np.arange(10)[:, None] % 2, gen())


def test_encoded_split_entry_point_names_gaussian_dims_and_needs_factors() -> None:
    from types import SimpleNamespace

    from vmieval.distributions import CategoricalPosterior, GaussianPosterior
    from vmieval.estimators.factors import split_factor_report

    factors = grid(3, 4, repeat=10)
    mean = torch.from_numpy(factors).float()
    posterior = {
        "z": GaussianPosterior(mean[:, :1], torch.full((120, 1), SHARP)),
        "c": CategoricalPosterior(torch.zeros(120, 2)),
        "w": GaussianPosterior(mean[:, 1:], torch.full((120, 1), SHARP)),
    }
    split = SimpleNamespace(posterior=posterior, factors=torch.from_numpy(factors).double(),
                            factor_names=("p", "q"), split="test")  # fmt: skip
    report = split_factor_report(split, gen(), FactorConfig(bootstrap=0))
    assert report.mi.latent_names == ("z[0]", "w[0]") and report.mi.factor_names == ("p", "q")
    assert report.mig.value == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(UsageError, match="factors"):
        split_factor_report(SimpleNamespace(posterior=posterior, factors=None), gen())


def test_grouped_sums_agree_with_one_mixture_per_class() -> None:
    """The one-pass class sums equal log_aggregate run separately on each class's images."""
    from vmieval.distributions import GaussianPosterior
    from vmieval.estimators.aggregate import log_aggregate
    from vmieval.estimators.encoder import sample_codes
    from vmieval.estimators.factors import factor_terms

    n = 300
    rng = np.random.default_rng(5)
    factors = np.stack([rng.integers(0, 3, n), rng.integers(0, 7, n)], axis=1)
    mean = torch.from_numpy(rng.normal(0, 1, (n, 2)) + factors[:, :1]).double()
    logvar = torch.from_numpy(rng.normal(-1, 0.5, (n, 2))).double()
    terms, _, _ = factor_terms(mean, logvar, factors, gen(9), chunk=64)
    draws = gen(9)
    for j in range(2):
        post = GaussianPosterior(mean[:, j : j + 1], logvar[:, j : j + 1])
        (code,) = sample_codes([post], draws)
        log_bar = log_aggregate([post], [code])
        for k in range(2):
            expected = torch.empty(n, dtype=torch.float64)
            for v in np.unique(factors[:, k]):
                idx = torch.from_numpy(np.nonzero(factors[:, k] == v)[0])
                part = GaussianPosterior(post.mean[idx], post.logvar[idx])
                expected[idx] = log_aggregate([part], [code[idx]]) - log_bar[idx]
            torch.testing.assert_close(terms[:, j, k], expected, rtol=0, atol=1e-9)


def test_an_own_class_sum_that_underflows_is_recomputed_exactly() -> None:
    from vmieval.estimators.factors import _log_own_class

    m = torch.tensor([[-800.0, 0.0, -1.0]], dtype=torch.float64)  # code 0: its own class is far below the max
    e = torch.exp(m - m.max(1, keepdim=True).values)
    index = torch.tensor([[0], [1], [1]])
    out = _log_own_class(m, e, index, [2], slice(0, 1))
    assert out.item() == pytest.approx(-800.0)


def test_sprites_through_a_model_and_the_encoded_split() -> None:
    """Plumbing end to end: `--data sprites` -> a Burgess model -> EncodedSplit -> factor report."""
    from vmieval.architectures import build_architecture
    from vmieval.data.resolve import load_images
    from vmieval.encoded import encode_split
    from vmieval.estimators.factors import split_factor_report
    from vmieval.frozen import CheckpointInfo, FrozenVAE
    from vmieval.spec import ModelSpec, gaussian

    spec = ModelSpec((1, 64, 64), (gaussian("z", 4),))
    torch.manual_seed(0)
    module = build_architecture("burgess", {"channels": 4, "hidden": 8}, spec)
    model = FrozenVAE.from_module(module, spec, CheckpointInfo("test", "test", "", "burgess"))
    encoded = encode_split(model, load_images("sprites", "test", limit=150))
    report = split_factor_report(encoded, gen(), FactorConfig(bootstrap=2))
    assert report.mi.factor_names == ("shape", "scale", "rotation", "x", "y")
    assert report.mi.latent_names == ("z[0]", "z[1]", "z[2]", "z[3]") and report.mi.values.shape == (4, 5)
    assert np.isfinite(report.mi.values).all() and np.isfinite(report.mig.value)
    assert (report.mi.values <= report.mi.factor_entropy + 4 * report.mi.stderr + 1e-9).all()


def test_chance_level_of_a_many_class_factor_on_few_images() -> None:
    """40 classes of 10 images: a dim independent of the factor reads > 1 nat, and so does its null;
    the informative dim stands far above its own null."""
    rng = np.random.default_rng(0)
    v = rng.integers(0, 40, 400)[:, None]
    mean = torch.from_numpy(np.stack([v[:, 0] * 1.0, rng.normal(0, 10, 400)], axis=1))
    mi, _ = factor_mi(mean, torch.full_like(mean, math.log(0.3**2)), v, gen())
    assert mi.values[1, 0] > 1.0  # the finite-set estimand, not a bug: a code partly identifies its image
    assert abs(mi.values[1, 0] - mi.null_values[1, 0]) < 4 * mi.stderr[1, 0] + 0.05
    assert mi.values[0, 0] > mi.null_values[0, 0] + 1.5


def _sampled_inputs(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Posteriors [n, 3] that depend on two factors (3 and 7 classes) plus a single-class factor."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, 3, n), rng.integers(0, 7, n), np.zeros(n, dtype=np.int64)], axis=1)
    mean = torch.from_numpy(factors[:, :2] @ rng.normal(size=(2, 3)) + rng.normal(0, 0.3, (n, 3)))
    return mean, torch.from_numpy(rng.normal(-3, 1, (n, 3))), factors


def test_sampled_mixtures_with_a_stratum_per_image_are_the_exact_sums() -> None:
    from vmieval.estimators.factor_sampling import sampled_factor_terms
    from vmieval.estimators.factors import factor_terms

    mean, logvar, factors = _sampled_inputs(200)
    exact, own, null = factor_terms(mean, logvar, factors, gen(1))
    terms, own_s, null_s, rows = sampled_factor_terms(mean, logvar, factors, gen(1), references=199, null_codes=50)
    # M = N − 1: every other image is its own stratum, so the sums are exact up to float32 densities
    assert terms.dtype == torch.float32  # kept per image for the stderr: half the memory at dSprites scale
    torch.testing.assert_close(terms.double(), exact, atol=1e-5, rtol=0)
    torch.testing.assert_close(own_s, own, atol=1e-5, rtol=0)
    torch.testing.assert_close(null_s, null[rows], atol=1e-5, rtol=0)
    assert len(rows) == 50 and (terms[:, :, 2] == 0).all()  # a single class: the term is exactly 0


def test_report_subsamples_above_the_crossover_and_agrees_with_the_exact_matrix() -> None:
    mean, logvar, factors = _sampled_inputs(1500)
    exact, _ = factor_mi(mean, logvar, factors, gen(2))
    fast, _ = factor_mi(mean, logvar, factors, gen(2), references=64, null_codes=300)
    assert "64 systematic references" in fast.estimator and "300 images" in fast.estimator
    assert exact.estimator != fast.estimator
    # same code draws: the difference is the subsampling noise, which the stderr contains
    assert (np.abs(fast.values - exact.values) <= 2 * fast.stderr + 1e-12).all()
    np.testing.assert_allclose(fast.latent_info, exact.latent_info, atol=3 * fast.latent_info_stderr.max())
    below, _ = factor_mi(mean, logvar, factors, gen(2), references=600)  # 1500 < 600 · 7: exact is cheaper
    assert below.estimator == exact.estimator and np.array_equal(below.values, exact.values)


def test_sampled_matrix_of_a_copied_factor_reads_its_entropy() -> None:
    factors = grid(4, 6, repeat=100)  # 2,400 images
    mean = torch.from_numpy(factors).double()
    report = factor_mi(mean, torch.full_like(mean, SHARP), factors, gen(), references=128)[0]
    assert "128 systematic references" in report.estimator
    # the class mixture is exact (equal densities); the all-image one counts 128/6 ≈ 21 draws of
    # the own class give or take one: log-bias at most ¼ / (2 · 21²) ≈ 3e-4 nats
    np.testing.assert_allclose(np.diag(report.values), np.log([4, 6]), atol=5e-4)
    np.testing.assert_allclose(report.values[[0, 1], [1, 0]], 0.0, atol=4 * report.stderr[[0, 1], [1, 0]].max())


def test_weighted_bootstrap_is_the_histogram_mig_of_resampled_copies() -> None:
    from vmieval.estimators.factors import bootstrap_migs, histogram_mi, mig_from_matrix

    factors = grid(3, 4, repeat=15)
    means = factors + np.random.default_rng(1).normal(0, 0.7, factors.shape)
    binned = discretize(means, 20)
    draws = bootstrap_migs(binned, factors, ("p", "q"), 5, seed=3)
    rng = np.random.default_rng(3)
    for draw in draws:
        idx = rng.integers(0, len(means), len(means))
        # the same bins (edges of all images) counted on an explicit resampled copy
        matrix = np.array([[histogram_mi(b[idx, None], f[idx, None], 10**6)[0][0, 0] for f in factors.T]
                           for b in binned.T])  # fmt: skip
        h = histogram_mi(factors[idx], factors[idx], 10**6)[1]
        assert draw == pytest.approx(mig_from_matrix(matrix, h, ("p", "q"), "").value, abs=1e-12)
