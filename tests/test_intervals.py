"""Tests of the honest intervals (vmieval.estimators.decoder.intervals) and the cross-fitted bounds (.crossfit).

Known answers: t quantiles, a cross-fit interval's parts (pairs given the images, Q's fitting
noise, their degrees of freedom) on terms built to have them, its coverage of simulated reruns (and
the under-coverage of one blind to the fitting noise), differences that are or are not within
noise; cross-fitted bounds of 0 for a decoder that ignores c and H(c) for one that shows c as
distinct templates, with every pair scored exactly once and every source image's pairs kept in one
fold.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vmieval.data import ImageData
from vmieval.encoded import encode_split
from vmieval.estimators import Estimate, MIConfig
from vmieval.estimators.decoder.crossfit import assign_folds, crossfit_q_bound
from vmieval.estimators.decoder.intervals import (
    FEW_TERMS,
    FEW_TERMS_DF,
    Interval,
    crossfit_interval,
    difference_interval,
    quantile,
)
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target

INFO = CheckpointInfo("test", "test", "", "callables")
K = 4
SMALL = {"samples": 2000, "max_epochs": 15, "patience": 3, "q_hidden": 32, "batch_size": 256}


def template_model(ignore_c: bool = False) -> FrozenVAE:
    """Latent [z (1), c (K)] -> 1x1xK Bernoulli logits: ±6 on the one-hot of c (or nothing). The
    encoder reads an image's K values as the logits of q(c|x)."""
    spec = ModelSpec((1, 1, K), (gaussian("z", 1), categorical("c", K)))

    def decode(latent: torch.Tensor) -> torch.Tensor:
        shown = torch.zeros(latent.shape[0], K) if ignore_c else 12.0 * latent[:, 1:] - 6.0
        return shown.view(-1, 1, 1, K)

    return FrozenVAE(spec, lambda x: torch.cat([torch.zeros(x.shape[0], 2), x.flatten(1)], 1), decode, INFO)


def test_quantiles_and_interval_ends() -> None:
    assert quantile(math.inf) == pytest.approx(1.959964, abs=1e-6)
    assert quantile(4) == pytest.approx(2.776445, abs=1e-6)
    interval = Interval(1.0, 0.1, 4)
    assert interval.low == pytest.approx(1.0 - 0.2776445) and interval.covers(1.27) and not interval.covers(1.28)
    assert interval.reported_stderr * 1.959964 == pytest.approx(interval.half_width)


def test_crossfit_interval_parts_known_answers() -> None:
    rng = np.random.default_rng(0)
    alone = np.full(4000, -1)
    noisy = rng.standard_normal(4000)
    same_q = [0.5] * 5  # every Q scores the shared pairs alike: no fitting noise
    pairs_only = crossfit_interval(0.0, noisy, alone, same_q, [0.0] * 5)
    assert pairs_only.stderr == pytest.approx(noisy.std(ddof=1) / math.sqrt(4000))
    assert pairs_only.q_fit == 0.0 and 3000 < pairs_only.df < 5000  # Gaussian terms: about S dof
    q_only = crossfit_interval(1.0, np.zeros(4000), alone, [1.0, 1.2, 0.8, 1.1, 0.9], [1.0] * 5)
    assert q_only.stderr == pytest.approx(math.sqrt(0.025 / 5)) and q_only.df == pytest.approx(4)
    no_shared = crossfit_interval(1.0, np.zeros(4000), alone, [math.nan] * 5, [1.0, 1.2, 0.8, 1.1, 0.9])
    assert no_shared.q_fit == pytest.approx(0.025 / 5) and no_shared.df == pytest.approx(4)  # the folds' excess

    # two pairs per image, images far apart: given the images only the within-image spread counts
    owner = np.tile(np.arange(2000), 2)
    image = 3.0 * rng.standard_normal(2000)
    within = rng.standard_normal(4000)
    terms = image[owner] + within
    clustered = crossfit_interval(float(terms.mean()), terms, owner, same_q, [0.0] * 5, n_images=2000)
    half_diff = (terms[:2000] - terms[2000:]) / math.sqrt(2)  # within-image deviations, 1 dof each
    assert clustered.pairs == pytest.approx(float((half_diff**2).mean()) / 4000)
    assert clustered.images > 15 * clustered.pairs  # (2·9 + 1) / 1  # what a per-image (population) variance would say


def simulated_reruns(tau: float, q_aware: bool, reps: int = 600) -> tuple[float, float]:
    """Reruns of a cross-fit on fixed images (2 pairs each, image effects, heavy-tailed misses) with a
    random shift τ per fold's Q: (coverage of the rerun mean, mean stderr / SD of the values)."""
    rng = np.random.default_rng(1)
    n, folds = 1000, 5
    owner = np.tile(np.arange(n), 2)
    image = 0.5 * rng.standard_normal(n)
    values, half, stderr = [], [], []
    for _ in range(reps):
        misses = np.where(rng.random(2 * n) < 0.02, -rng.exponential(2.0, 2 * n), 0.0)
        fold = (rng.permutation(n) % folds)[owner]
        shift = tau * rng.standard_normal(folds)
        base = image[owner] + misses
        terms = base + shift[fold]
        shared = np.arange(2 * n - 250, 2 * n)  # scored by every Q
        q_values = [float(base[shared].mean() + (shift[f] if q_aware else 0.0)) for f in range(folds)]
        per_fold = [float(terms[fold == f].mean()) for f in range(folds)]
        i = crossfit_interval(float(terms.mean()), terms, owner, q_values, per_fold, n_images=n)
        values.append(i.value), half.append(i.half_width), stderr.append(i.stderr)
    v = np.array(values)
    return float(np.mean(np.abs(v - v.mean()) <= np.array(half))), float(np.mean(stderr) / v.std(ddof=1))


@pytest.mark.parametrize("tau", [0.0, 0.03])
def test_crossfit_interval_covers_reruns_and_blind_one_is_caught(tau: float) -> None:
    cover, ratio = simulated_reruns(tau, q_aware=True)
    assert cover > 0.93 and 0.85 < ratio < 1.2  # 600 reruns: coverage known to ±0.9 points
    if tau > 0:  # an interval blind to the fitting noise under-covers
        assert simulated_reruns(tau, q_aware=False)[0] < 0.85


def test_difference_interval_marks_noise() -> None:
    a = Estimate("I(t;x_hat)", "c", "decoder", "lower_bound", "barber-agakov", 2.00, 0.01, 100, "test")
    near = Estimate("I(t;x_hat)", "c", "decoder", "lower_bound", "barber-agakov", 2.02, 0.01, 100, "test")
    far = Estimate("I(t;x_hat)", "c", "decoder", "lower_bound", "barber-agakov", 2.10, 0.01, 100, "test")
    d = difference_interval(a, near)
    assert d.value == pytest.approx(0.02) and d.stderr == pytest.approx(math.sqrt(2) * 0.01)
    assert d.within_noise is True and math.isinf(d.df)
    assert difference_interval(a, far).within_noise is False
    assert difference_interval(a, Interval(2.1, 0.01, 4)).df == pytest.approx(4 * 4)  # Welch: (2s²)²/(s⁴/4)
    assert difference_interval(a, Interval(2.1, math.nan)).within_noise is None


def test_folds_keep_each_image_together() -> None:
    g = torch.Generator().manual_seed(0)
    owner = torch.randint(0, 50, (400,), generator=g)
    folds = assign_folds(owner, 5, g)
    for image in owner.unique():
        assert folds[owner == image].unique().numel() == 1
    prior = assign_folds(torch.full((403,), -1), 5, g)
    assert sorted(prior.bincount().tolist()) == [80, 80, 81, 81, 81]


def run(model: FrozenVAE, seed: int = 0, codes: str = "prior", images: torch.Tensor | None = None, lr: float = 2e-3):
    config = MIConfig(target="c", codes=codes, lr=lr, **SMALL)  # type: ignore[arg-type]
    split = encode_split(model, ImageData(images, None, "test", "test", "memory")) if images is not None else None
    return crossfit_q_bound(model, parse_target("c", model.spec), config, torch.Generator().manual_seed(seed),
                            split, folds=4)  # fmt: skip


def test_crossfit_bounds_known_answers() -> None:
    zero = run(template_model(ignore_c=True))
    ba = next(e for e in zero.estimates() if e.family == "barber-agakov")
    assert abs(ba.value) < 0.02 and ba.n == SMALL["samples"]  # every pair scored once
    assert ba.value - 1.96 * ba.stderr <= 0.0 <= ba.value + 1.96 * ba.stderr
    assert len(zero.curves) == 4 and len(zero.fold_values[ba.key]) == 4
    assert zero.intervals[ba.key].reported_stderr == ba.stderr and ba.params["folds"] == 4

    full = run(template_model(), lr=5e-3)  # a rate at which Q converges within SMALL's 15 epochs
    rows = {e.family: e for e in full.estimates()}
    assert set(rows) == {"barber-agakov", "fano", "infonce", "nwj", "interpolated"}
    assert math.log(K) - 0.03 < rows["barber-agakov"].value <= math.log(K) + 1e-9
    assert rows["infonce"].params["cap"] == pytest.approx(math.log(rows["infonce"].params["batch"]))
    for name in ("infonce", "nwj", "interpolated"):
        assert rows[name].value < math.log(K) + 3 * rows[name].stderr + 1e-9, rows[name]
    assert all(e.stderr > 0 or e.value == pytest.approx(math.log(K)) for e in full.estimates())


def test_crossfit_with_posterior_codes_and_reproducible() -> None:
    types = torch.arange(200) % K
    images = (4.0 * F.one_hot(types, K).float()).view(-1, 1, 1, K)
    a, b = (run(template_model(), seed=3, codes="posterior", images=images) for _ in range(2))
    assert [e.value for e in a.estimates()] == [e.value for e in b.estimates()]
    valid = next(e for e in a.estimates() if e.valid)
    paper = next(e for e in a.estimates() if not e.valid)
    assert paper.value - valid.value == pytest.approx(math.log(K) - a.entropy, abs=1e-9)
    assert valid.value <= a.entropy + 1e-9
    stored = json.loads(str(a.to_dict()["intervals"]))  # one JSON string: an HDF5 attribute as it is
    assert stored[valid.key]["high"] == pytest.approx(valid.value + 1.959964 * valid.stderr, abs=1e-6)


def test_comparison_rows_carry_the_difference_interval() -> None:
    from vmieval.results.compare import Comparison, MetricRow

    rows = (
        MetricRow("mi:a", "a", "nats", (2.0, 2.01, 2.5), (0.01, 0.01, 0.01), ("", "", "")),
        MetricRow("cluster.nmi", "NMI", "score", (0.1, 0.5, 0.6), (math.nan,) * 3, ("", "", "")),
    )
    tree = Comparison(("A", "B", "C"), rows).tree()
    assert tree["within_noise"].tolist() == [[1, 0], [-1, -1]]  # B − A is noise, C − A is not; NMI: no stderr
    assert tree["difference_stderr"][0, 0] == pytest.approx(math.sqrt(2) * 0.01)
    assert rows[0].differences[1].low > 0


def flip_model(eps: float) -> FrozenVAE:
    """`template_model` whose decoder shows c + 1 (mod K) instead of c with probability eps (u = Φ(z) < eps)."""
    spec = ModelSpec((1, 1, K), (gaussian("z", 1), categorical("c", K)))

    def decode(latent: torch.Tensor) -> torch.Tensor:
        c = latent[:, 1:].argmax(1)
        shown = torch.where(torch.special.ndtr(latent[:, 0]) < eps, (c + 1) % K, c)
        return (12.0 * F.one_hot(shown, K).float() - 6.0).view(-1, 1, 1, K)

    return FrozenVAE(spec, lambda x: torch.zeros(x.shape[0], 2 + K), decode, INFO)


def test_rows_resting_on_few_rare_misses_are_flagged() -> None:
    """A handful of flips among 2,000 pairs: the Barber-Agakov and Fano intervals rest on those few
    terms (few degrees of freedom) and are flagged; with a flip in four pairs no row is."""
    rare = {e.family: e for e in run(flip_model(0.003), lr=5e-3).estimates()}
    for name in ("barber-agakov", "fano"):
        assert FEW_TERMS in rare[name].flags and "df" in rare[name].note, rare[name]
    common = run(flip_model(0.25), lr=5e-3)
    assert not any(FEW_TERMS in e.flags for e in common.estimates())
    assert all(common.intervals[e.key].pairs_df >= FEW_TERMS_DF for e in common.estimates())


def test_few_terms_reads_the_pair_part_not_the_fitting_part() -> None:
    """Four large terms among 4,000 make the pair part's degrees of freedom few; 4,000 ordinary terms with five
    far-apart Q scores make the whole interval's few (F − 1 = 4 from the fit), but not the pair part's."""
    rng = np.random.default_rng(0)
    owner = np.full(4000, -1)
    rare = np.where(np.arange(4000) < 4, -8.0, 0.0)
    rare_interval = crossfit_interval(float(rare.mean()), rare, owner, [0.0] * 5, [0.0] * 5)
    assert rare_interval.few_terms and rare_interval.pairs_df < 10
    ordinary = rng.normal(size=4000)
    fit_heavy = crossfit_interval(float(ordinary.mean()), ordinary, owner, [0.0, 0.3, -0.3, 0.6, -0.6], [0.0] * 5)
    assert fit_heavy.df < FEW_TERMS_DF < fit_heavy.pairs_df and not fit_heavy.few_terms
