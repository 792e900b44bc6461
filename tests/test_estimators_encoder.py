"""Known-answer tests for the encoder-side estimators (vmieval.estimators.encoder, .aggregate).

Models are FrozenVAEs built from plain callables, so each true value is known in closed form:
an encoder that ignores x (I = 0), a deterministic encoder on K separable clusters (I = log K), a
Gaussian encoder on Gaussian data (I = ½ log(1 + τ²/σ²)), and a deterministic Gaussian encoder
(I saturates at log N and must be flagged).
"""

from __future__ import annotations

import math

import pytest
import torch

from vmieval.data import ImageData
from vmieval.distributions import CategoricalPosterior, GaussianPosterior
from vmieval.encoded import encode_split
from vmieval.estimators import categorical_mi, encoder_mi, label_mi, monte_carlo_mi
from vmieval.estimators.aggregate import joint_categorical_entropy, log_aggregate
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target

INFO = CheckpointInfo("test", "test", "", "callables")


def frozen(spec: ModelSpec, encode) -> FrozenVAE:
    """A FrozenVAE with the given encoder and a decoder that outputs zeros (unused here)."""
    return FrozenVAE(spec, encode, lambda z: torch.zeros(z.shape[0], *spec.observation_shape), INFO)


def run_encoder(model: FrozenVAE, images: torch.Tensor, target: str, labels=None, seed: int = 0):
    split = encode_split(model, ImageData(images, labels, "test", "test", "memory"))
    return encoder_mi(split, parse_target(target, model.spec), torch.Generator().manual_seed(seed))


def row(result, quantity: str, kind: str):
    found = [e for e in result.estimates() if e.estimand == quantity and e.kind == kind]
    assert len(found) == 1, [e.to_dict() for e in result.estimates()]
    return found[0]


def test_encoder_that_ignores_input_has_zero_information() -> None:
    spec = ModelSpec((1, 2, 2), (gaussian("z", 2), categorical("c", 4)))
    fixed = torch.tensor([0.7, -1.2, 0.3, -0.5, 2.0, 0.0, -1.0, 0.5])  # non-uniform c, off-prior z

    model = frozen(spec, lambda x: fixed.expand(x.shape[0], -1).clone())
    images = torch.rand(300, 1, 2, 2, generator=torch.Generator().manual_seed(1))
    result = run_encoder(model, images, "c,z[0:2]")
    for quantity, kind in (("I_q(x; c)", "exact"), ("I_q(x; z[0:2])", "estimate"), ("I_q(x; c,z[0:2])", "estimate")):
        e = row(result, quantity, kind)
        assert abs(e.value) <= 3 * e.stderr + 1e-9, e
    kl_c = row(result, "I_q(x; c)", "upper_bound")
    kl_z = row(result, "I_q(x; z[0:2])", "upper_bound")
    assert kl_c.value > 0.1 and kl_z.value > 0.1  # the bounds are loose here, never negative
    assert all(e.value >= 0 for e in result.estimates() if e.kind == "upper_bound")


def cluster_images(k: int, per_cluster: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Cluster j lights pixel j (plus a little noise): K separable clusters, balanced."""
    labels = torch.arange(k).repeat_interleave(per_cluster)
    images = 0.05 * torch.rand(k * per_cluster, 1, 1, k, generator=generator)
    images[torch.arange(labels.shape[0]), 0, 0, labels] += 1.0
    return images, labels


def test_deterministic_encoder_on_separable_clusters_gives_log_k() -> None:
    k = 5
    spec = ModelSpec((1, 1, k), (categorical("c", k),))
    images, labels = cluster_images(k, 40, torch.Generator().manual_seed(0))
    model = frozen(spec, lambda x: 60.0 * x.flatten(1))
    result = run_encoder(model, images, "c", labels=labels)
    assert row(result, "I_q(x; c)", "exact").value == pytest.approx(math.log(k), abs=1e-6)
    assert row(result, "I_q(y; c)", "exact").value == pytest.approx(math.log(k), abs=1e-6)
    assert result.aggregate_entropy["c"] == pytest.approx(math.log(k), abs=1e-6)
    # Labels unrelated to the clusters carry (almost) nothing, and never more than x does.
    shuffled = labels[torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(3))]
    log_probs = model.encode(images)["c"].log_probs
    i_y, _ = label_mi(log_probs, shuffled)
    assert 0 <= i_y < 0.1 < math.log(k)


def test_kl_minus_mi_identity() -> None:
    """E_x KL(q(c|x) || U) − I_q(x; c) = log K − H(q̄) exactly, for any encoder."""
    k = 7
    logits = 2.0 * torch.randn(400, k, generator=torch.Generator().manual_seed(2)) + torch.linspace(0, 3, k)
    spec = ModelSpec((1, 1, k), (categorical("c", k),))
    result = run_encoder(frozen(spec, lambda x: x.flatten(1)), logits.view(-1, 1, 1, k), "c")
    gap = row(result, "I_q(x; c)", "upper_bound").value - row(result, "I_q(x; c)", "exact").value
    assert gap == pytest.approx(math.log(k) - result.aggregate_entropy["c"], abs=1e-6)
    assert gap > 0.05  # the aggregate is far from uniform, so the identity is not 0 = 0


def test_categorical_stderr_matches_bootstrap() -> None:
    g = torch.Generator().manual_seed(4)
    log_probs = torch.log_softmax(1.5 * torch.randn(600, 4, generator=g), dim=1)
    value, se = categorical_mi(log_probs)
    boot = [categorical_mi(log_probs[torch.randint(0, 600, (600,), generator=g)])[0] for _ in range(300)]
    assert se == pytest.approx(float(torch.tensor(boot).std()), rel=0.25)
    assert value > 5 * se


def test_label_mi_matches_its_definition() -> None:
    g = torch.Generator().manual_seed(5)
    log_probs = torch.log_softmax(2.0 * torch.randn(500, 6, generator=g), dim=1).double()
    labels = torch.randint(0, 3, (500,), generator=g)
    p = log_probs.exp()

    def h(v: torch.Tensor) -> float:
        return float(-(v * v.log()).sum())

    expected = h(p.mean(0)) - sum(float((labels == y).double().mean()) * h(p[labels == y].mean(0)) for y in range(3))
    value, se = label_mi(log_probs, labels)
    assert value == pytest.approx(expected, abs=1e-10)
    assert 0 < se and value <= categorical_mi(log_probs)[0]


def test_gaussian_encoder_matches_analytic_mi() -> None:
    """x0 ~ N(0, τ²), q(z|x) = N(x0, σ²): I_q(x; z) = ½ log(1 + τ²/σ²)."""
    tau, sigma, n = 1.5, 1.0, 4000
    spec = ModelSpec((1, 1, 1), (gaussian("z", 1),))
    images = tau * torch.randn(n, 1, 1, 1, generator=torch.Generator().manual_seed(6))

    model = frozen(spec, lambda x: torch.cat([x.flatten(1), torch.full_like(x.flatten(1), math.log(sigma**2))], 1))
    e = row(run_encoder(model, images, "z"), "I_q(x; z)", "estimate")
    analytic = 0.5 * math.log(1 + tau**2 / sigma**2)
    assert abs(e.value - analytic) < 3 * e.stderr + 0.01, (e.value, analytic)


def test_deterministic_gaussian_encoder_is_capped_and_flagged() -> None:
    n = 500
    spec = ModelSpec((1, 1, 1), (gaussian("z", 1),))
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)

    model = frozen(spec, lambda x: torch.cat([x.flatten(1), torch.full_like(x.flatten(1), -20.0)], 1))
    result = run_encoder(model, images, "z")
    e = row(result, "I_q(x; z)", "estimate")
    assert e.value == pytest.approx(math.log(n), abs=1e-6)
    assert result.near_cap == ("z",) and "cap" in e.note


def test_log_aggregate_is_chunk_free_and_matches_a_dense_computation() -> None:
    g = torch.Generator().manual_seed(7)
    n, s = 60, 45
    parts = [
        CategoricalPosterior(torch.log_softmax(torch.randn(n, 3, generator=g), 1).double(), normalised=True),
        GaussianPosterior(torch.randn(n, 2, generator=g).double(), torch.randn(n, 2, generator=g).double()),
    ]
    codes = [torch.randint(0, 3, (s,), generator=g), torch.randn(s, 2, generator=g)]
    dense = torch.empty(s, n, dtype=torch.float64)
    for i in range(s):
        for m in range(n):
            normal = torch.distributions.Normal(parts[1].mean[m], torch.exp(0.5 * parts[1].logvar[m]))
            dense[i, m] = parts[0].logits[m, codes[0][i]] + normal.log_prob(codes[1][i].double()).sum()
    expected = torch.logsumexp(dense, 1) - math.log(n)
    assert torch.allclose(log_aggregate(parts, codes, chunk=7), expected, atol=1e-10)
    assert torch.allclose(log_aggregate(parts, codes, chunk=1000), expected, atol=1e-10)
    a = monte_carlo_mi(parts, torch.Generator().manual_seed(0), chunk=5)
    b = monte_carlo_mi(parts, torch.Generator().manual_seed(0), chunk=64)
    assert a == pytest.approx(b, abs=1e-12)


def test_joint_categorical_entropy_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(8)
    a = torch.log_softmax(torch.randn(50, 3, generator=g), 1).double()
    b = torch.log_softmax(torch.randn(50, 4, generator=g), 1).double()
    joint = (a.exp().unsqueeze(2) * b.exp().unsqueeze(1)).mean(0)
    expected = float(-(joint * joint.log()).sum())
    h = joint_categorical_entropy([CategoricalPosterior(a, True), CategoricalPosterior(b, True)])
    assert h == pytest.approx(expected, abs=1e-10)
    assert joint_categorical_entropy([CategoricalPosterior(a), GaussianPosterior(a, a)]) is None


def test_fast_and_exact_gaussian_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The matrix-product expansion (used when its rounding error is provably small) and the exact
    per-dimension sum give the same log q̄ on typical posteriors."""
    from vmieval.estimators import aggregate

    g = torch.Generator().manual_seed(9)
    parts = [GaussianPosterior(3 * torch.randn(300, 5, generator=g).double(), torch.rand(300, 5, generator=g).double()
                               * -6)]  # fmt: skip
    codes = [3 * torch.randn(200, 5, generator=g).double()]
    fast = log_aggregate(parts, codes, chunk=64)
    monkeypatch.setattr(aggregate, "EXPANSION_TOLERANCE", 0.0)
    exact = log_aggregate(parts, codes, chunk=64)
    assert torch.allclose(fast, exact, atol=1e-9, rtol=0)
