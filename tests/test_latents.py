"""Per-latent summary (vmieval/estimators/latents.py), the default Gaussian MI target and the weak-target
warning, on posteriors whose answers are known: a dim at the prior carries KL 0 and I_q ~ 0, a dim
whose means spread with unit variance and posterior variance s^2 carries KL = (1 + s^2 - 1 - log s^2)/2
+ mean^2/2 per image and I_q = 0.5 log(1 + 1/s^2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vmieval.distributions import GaussianPosterior, Posterior
from vmieval.encoded import EncodedSplit
from vmieval.estimators import latents
from vmieval.estimators.latents import (
    ACTIVE_THRESHOLD,
    dims_target,
    latent_summary,
    top_dims,
    weak_target_warnings,
)
from vmieval.estimators.mi import default_target
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target

N, S = 1500, 0.3  # images; posterior standard deviation of the informative dims


def split_with(informative: dict[int, float], d: int = 8) -> EncodedSplit:
    """A Gaussian block of `d` dims: dim j in `informative` has means ~ N(0, scale^2) and posterior std S;
    every other dim is the prior (mean 0, log-variance 0)."""
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.zeros(N, d), torch.zeros(N, d)
    for j, scale in informative.items():
        mean[:, j] = scale * torch.randn(N, generator=g)
        logvar[:, j] = 2 * math.log(S)
    spec = ModelSpec((1, 4, 4), (gaussian("z", d),))
    return EncodedSplit(spec, Posterior({"z": GaussianPosterior(mean, logvar)}), None, None, "toy", "test")  # type: ignore[arg-type]


def test_known_kl_iq_and_active_units() -> None:
    split = split_with({3: 1.0, 6: 1.0})
    s = latent_summary(split, torch.Generator().manual_seed(1))
    assert s is not None and s.names[3] == "z[3]" and s.n == N
    kl_expected = 0.5 * (1.0 + S**2 - 1.0 - math.log(S**2))  # E[mean^2] = 1
    assert s.kl[3] == pytest.approx(kl_expected, abs=4 * s.kl_stderr[3] + 0.02)
    assert s.iq[3] == pytest.approx(0.5 * math.log(1 + 1 / S**2), abs=0.1)
    assert np.all(s.kl[[0, 1, 2, 4, 5, 7]] == 0) and np.all(np.abs(s.iq[[0, 1, 2, 4, 5, 7]]) < 0.05)
    assert s.n_active == 2 and list(np.flatnonzero(s.active)) == [3, 6] and s.active_threshold == ACTIVE_THRESHOLD
    assert set(s.order()[:2].tolist()) == {3, 6}
    tree = s.tree()
    assert tree["attrs"]["n_active"] == 2 and tree["kl"].shape == (8,)


def test_sampled_references_above_the_exact_limit_agree_with_the_exact_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    split = split_with({3: 1.0, 6: 1.0})
    exact = latent_summary(split, torch.Generator().manual_seed(1))
    monkeypatch.setattr(latents, "EXACT_IQ_LIMIT", N - 1)  # N images now take the O(N·M) path
    sampled = latent_summary(split, torch.Generator().manual_seed(1))
    assert exact is not None and sampled is not None
    assert "systematic references" in sampled.tree()["attrs"]["iq_estimator"]
    assert np.all(np.abs(sampled.iq - exact.iq) < 3 * sampled.iq_stderr + 0.01), (sampled.iq, exact.iq)
    assert sampled.iq[3] == pytest.approx(0.5 * math.log(1 + 1 / S**2), abs=0.1)


def test_no_gaussian_block_has_no_summary() -> None:
    spec = ModelSpec((1, 4, 4), (categorical("c", 3),))
    from vmieval.distributions import CategoricalPosterior

    split = EncodedSplit(spec, Posterior({"c": CategoricalPosterior(torch.zeros(5, 3))}), None, None, "t", "test")  # type: ignore[arg-type]
    assert latent_summary(split) is None


def test_default_gaussian_target_is_the_top_kl_pair() -> None:
    far = split_with({7: 1.0, 2: 0.5})
    assert default_target(far.spec, far) == "z[2:3],z[7:8]"
    near = split_with({4: 1.0, 5: 0.7})
    assert default_target(near.spec, near) == "z[4:6]"
    assert default_target(far.spec) == "z[0:2]"  # no split: the first two, as before
    joint = ModelSpec((1, 4, 4), (gaussian("z", 3), categorical("c", 4)))
    assert default_target(joint) == "c"


def test_top_dims_and_their_target_spelling() -> None:
    kl = np.array([0.0, 0.5, 0.0, 2.0])
    assert (
        top_dims(kl) == [1, 3] and dims_target("z", [1, 3]) == "z[1:2],z[3:4]" and dims_target("z", [2, 3]) == "z[2:4]"
    )


def test_a_target_under_five_percent_of_its_block_kl_is_warned() -> None:
    split = split_with({7: 1.0, 3: 1.0})
    (warning,) = weak_target_warnings(split, parse_target("z[0:2]", split.spec))
    assert "z[0:2] carries 0.00 of block z's" in warning and "--target 'z[3:4],z[7:8]'" in warning
    assert weak_target_warnings(split, parse_target("z[7]", split.spec)) == []
    assert weak_target_warnings(split, parse_target("z", split.spec)) == []  # a whole block: nothing to compare


def test_target_syntax_single_dims_and_disjoint_slices() -> None:
    spec = ModelSpec((1, 4, 4), (gaussian("z", 8), categorical("c", 3)))
    assert parse_target("z[7]", spec).label() == "z[7:8]"
    assert parse_target("z[3],z[7]", spec).label() == "z[3:4],z[7:8]"
    for bad, match in (("z[8]", r"z\[0\] \.\. z\[7\]"), ("z[1:4],z[3]", "overlap"), ("z,z[1]", "twice"),
                       ("c[1]", "only Gaussian"), ("z[", "z\\[7\\]")):  # fmt: skip
        with pytest.raises(Exception, match=match):
            parse_target(bad, spec)
