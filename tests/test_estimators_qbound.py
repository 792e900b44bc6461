"""Known-answer tests for the decoder-side bounds (vmieval.estimators.decoder.bound, .qfit, .pairs).

Decoders are plain callables on tiny images, so Q fits in a second or two and the true
I(t; x_hat) is known: 0 for a decoder that ignores c, H(c) for one that draws c as K distinct
templates, and ½·d·log(1 + 1/s²) for x_hat = z_S + s·noise (a linear-Gaussian channel).
"""

from __future__ import annotations

import math

import pytest
import torch

from vmieval.data import ImageData
from vmieval.encoded import EncodedSplit, encode_split
from vmieval.estimators import MIConfig, estimate_mi, fano_bound, q_bound
from vmieval.estimators.decoder.pairs import stratified_owners
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target

INFO = CheckpointInfo("test", "test", "", "callables")
K = 4
TEMPLATES = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 1, 1, 0, 0, 1], [1, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]]).float()


def template_model(encode=None, ignore_c: bool = False) -> FrozenVAE:
    """Latent [z (2), c (K one-hot)] -> 1x1x6 Bernoulli logits: ±6 on template c (or on z only)."""
    spec = ModelSpec((1, 1, 6), (gaussian("z", 2), categorical("c", K)))

    def decode(latent: torch.Tensor) -> torch.Tensor:
        z, c = latent[:, :2], latent[:, 2:]
        pixels = torch.zeros(latent.shape[0], 6) if ignore_c else 12.0 * (c @ TEMPLATES) - 6.0
        pixels[:, :2] += z
        return pixels.view(-1, 1, 1, 6)

    def uniform(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 4 + K)

    return FrozenVAE(spec, encode or uniform, decode, INFO)


def rows_of(result, valid: bool = True, family: str = "barber-agakov"):
    return [e for e in result.estimates() if e.valid == valid and e.family == family]


def encoded(model: FrozenVAE, images: torch.Tensor) -> EncodedSplit:
    return encode_split(model, ImageData(images, None, "test", "test", "memory"))


SMALL = {"samples": 3000, "max_epochs": 15, "patience": 3, "q_hidden": 64}


def test_decoder_that_ignores_c_gives_zero_bound() -> None:
    model = template_model(ignore_c=True)
    config = MIConfig(target="c", codes="prior", **SMALL)
    result = q_bound(model, parse_target("c", model.spec), config, torch.Generator().manual_seed(0))
    (ba,) = rows_of(result)
    (fano,) = rows_of(result, family="fano")
    assert abs(ba.value) < 0.02, ba
    assert fano.value < 0.05 and result.accuracy["c"] < 0.35
    assert ba.n == config.split_sizes()[2] == 600


def test_decoder_with_distinct_templates_reaches_h_c() -> None:
    model = template_model()
    config = MIConfig(target="c", codes="prior", **SMALL)
    result = q_bound(model, parse_target("c", model.spec), config, torch.Generator().manual_seed(0))
    (ba,) = rows_of(result)
    (fano,) = rows_of(result, family="fano")
    assert math.log(K) - 0.03 < ba.value <= math.log(K) + 1e-9
    assert result.accuracy["c"] == 1.0 and fano.value == pytest.approx(math.log(K))
    assert result.curve.best_epoch >= 1 and len(result.curve.val_log_q) >= result.curve.best_epoch


def test_collapsed_encoder_paper_bound_is_log_k_valid_bound_is_zero() -> None:
    def collapsed(x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 4 + K)
        logits[:, 4] = 12.0 + x.flatten(1)[:, 0]  # q(c = 0 | x) > 0.9999 for every x
        return logits

    model = template_model(encode=collapsed)
    images = torch.rand(400, 1, 1, 6, generator=torch.Generator().manual_seed(1))
    result = estimate_mi(model, encoded(model, images), MIConfig(target="c", **SMALL))
    (paper,) = rows_of(result.qbound, valid=False)
    (valid,) = rows_of(result.qbound)
    assert paper.value > math.log(K) - 0.05 and "not a valid bound" in paper.note
    assert abs(valid.value) < 0.05
    assert any("collapsed encoder" in w for w in result.warnings)


def test_paper_minus_valid_bound_is_the_entropy_gap() -> None:
    """BA(log K) − BA(H(q̄)) = log K − H(q̄), exactly, for a non-uniform encoder."""

    def leaning(x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 4 + K)
        logits[:, 4:] = 3.0 * x.flatten(1)[:, :K] + torch.tensor([1.0, 0.3, 0.0, 0.0])
        return logits

    model = template_model(encode=leaning)
    images = torch.rand(500, 1, 1, 6, generator=torch.Generator().manual_seed(2))
    result = estimate_mi(model, encoded(model, images), MIConfig(target="c", **{**SMALL, "max_epochs": 3}))
    (paper,) = rows_of(result.qbound, valid=False)
    (valid,) = rows_of(result.qbound)
    gap = math.log(K) - result.encoder.aggregate_entropy["c"]
    assert paper.value - valid.value == pytest.approx(gap, abs=1e-6)
    assert gap > 0.03 and not any("collapsed" in w for w in result.warnings)


def linear_gaussian_model(noise: float) -> FrozenVAE:
    """x_hat = z[0:2] + noise · z[2:4] (Gaussian likelihood: the decoder mean is the output)."""
    spec = ModelSpec((1, 1, 2), (gaussian("z", 4),), likelihood="gaussian", likelihood_scale=1.0)

    def encode(x: torch.Tensor) -> torch.Tensor:  # N(x, 0.5²) in dims 0..1, the prior in dims 2..3
        mean = torch.cat([x.flatten(1), torch.zeros(x.shape[0], 2)], 1)
        return torch.cat([mean, torch.log(torch.tensor([0.25, 0.25, 1.0, 1.0])).expand(x.shape[0], 4)], 1)

    return FrozenVAE(spec, encode, lambda z: (z[:, :2] + noise * z[:, 2:]).view(-1, 1, 1, 2), INFO)


def test_linear_gaussian_channel_within_two_percent() -> None:
    noise = 0.5
    analytic = 2 * 0.5 * math.log(1 + 1 / noise**2)
    model = linear_gaussian_model(noise)
    config = MIConfig(target="z[0:2]", codes="prior", samples=30_000, q_hidden=64, max_epochs=30, patience=4)
    result = q_bound(model, parse_target("z[0:2]", model.spec), config, torch.Generator().manual_seed(0))
    (ba,) = rows_of(result)
    assert abs(ba.value - analytic) < 0.02 * analytic, (ba.value, analytic)
    assert ba.value < analytic + 3 * ba.stderr  # a lower bound, up to noise


def test_posterior_codes_use_the_mixture_entropy() -> None:
    """Encoder N(x, 0.5²) on x ~ N(0, 1): the aggregate of z[0:2] is ≈ N(0, 1.25 I)."""
    model = linear_gaussian_model(0.5)
    images = torch.randn(3000, 1, 1, 2, generator=torch.Generator().manual_seed(3))
    config = MIConfig(target="z[0:2]", samples=3000, q_hidden=16, max_epochs=1)
    result = q_bound(model, parse_target("z[0:2]", model.spec), config, torch.Generator().manual_seed(0),
                     encoded(model, images))  # fmt: skip
    expected = 2 * 0.5 * math.log(2 * math.pi * math.e * 1.25)
    assert result.entropy == pytest.approx(expected, abs=0.05)
    assert result.entropy_choice == "aggregate-mc" and result.paper_entropy == pytest.approx(2 * 0.5 * math.log(
        2 * math.pi * math.e))  # fmt: skip


def test_splits_are_image_disjoint_and_runs_reproducible() -> None:
    owners = stratified_owners(100, 100, torch.Generator().manual_seed(0))
    n_fit, n_val, _ = MIConfig(samples=100).split_sizes()
    assert sorted(owners.tolist()) == list(range(100))
    assert not set(owners[:n_fit].tolist()) & set(owners[n_fit + n_val :].tolist())
    model = template_model()
    config = MIConfig(target="c", codes="prior", samples=400, max_epochs=2, q_hidden=16)
    runs = [q_bound(model, parse_target("c", model.spec), config, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert [e.value for e in runs[0].estimates()] == [e.value for e in runs[1].estimates()]


def test_fano_known_values() -> None:
    assert fano_bound(math.log(10), 0.0, 10, 1000)[0] == pytest.approx(math.log(10))
    assert fano_bound(math.log(10), 0.9, 10, 1000)[0] == pytest.approx(0.0, abs=1e-12)
    value, se = fano_bound(math.log(10), 0.2, 10, 1000)
    assert value == pytest.approx(math.log(10) + 0.2 * math.log(0.2) + 0.8 * math.log(0.8) - 0.2 * math.log(9))
    assert 0 < se < 0.2
