"""ELBO and its KL terms on hand-built models whose values are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vmieval.analysis.elbo import ElboConfig, elbo_analysis
from vmieval.data import ImageData
from vmieval.encoded import encode_split
from vmieval.errors import UsageError
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian

PIXELS = 28 * 28


def constant_model(spec: ModelSpec, z_mean: float = 0.0, c_logit: float = 0.0, out: float = 0.0) -> FrozenVAE:
    """Encoder: z ~ N(z_mean, 1) in every dim, c logits [c_logit, 0, ..., 0]; decoder: constant `out`."""

    def encode(x: torch.Tensor) -> torch.Tensor:
        pieces = []
        for b in spec.blocks:
            if b.kind == "gaussian":
                pieces += [torch.full((x.shape[0], b.size), z_mean), torch.zeros(x.shape[0], b.size)]
            else:
                logits = torch.zeros(x.shape[0], b.size)
                logits[:, 0] = c_logit
                pieces.append(logits)
        return torch.cat(pieces, dim=1)

    def decode(latent: torch.Tensor) -> torch.Tensor:
        return torch.full((latent.shape[0], *spec.observation_shape), out)

    return FrozenVAE(spec, encode, decode, CheckpointInfo("memory", "test", "0" * 64, "constant"))


def encoded(model: FrozenVAE, images: ImageData) -> tuple:
    return model, encode_split(model, images)


def data(n: int = 30, value: float | None = None) -> ImageData:
    images = torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    if value is not None:
        images.fill_(value)
    return ImageData(images, torch.zeros(n, dtype=torch.long), "synthetic", "test", "memory")


def test_prior_matching_encoder_and_flat_decoder() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 5)))
    r = elbo_analysis(*encoded(constant_model(spec), data()), torch.Generator().manual_seed(0), ElboConfig(samples=2))
    assert r.recon == pytest.approx(-PIXELS * math.log(2))  # logit 0: p = 1/2 for any pixel value
    assert r.elbo == pytest.approx(r.recon)
    assert r.kl_block == pytest.approx({"z": 0.0, "c": 0.0}, abs=1e-9)
    assert r.elbo_stderr == pytest.approx(0.0, abs=1e-9)
    assert (r.split, r.n, r.samples) == ("test", 30, 2)


def test_kl_terms_per_block_and_per_dim() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 4)))
    r = elbo_analysis(*encoded(constant_model(spec, z_mean=1.0, c_logit=2.0), data()), None, ElboConfig(decode_batch=7))
    np.testing.assert_allclose(r.kl_per_dim["z"], [0.5, 0.5, 0.5])  # ½(μ² + σ² − 1 − log σ²)
    p = torch.softmax(torch.tensor([2.0, 0.0, 0.0, 0.0], dtype=torch.float64), 0)
    expected_c = math.log(4) + float((p * p.log()).sum())  # log K − H(q(c|x))
    assert r.kl_block["z"] == pytest.approx(1.5)
    assert r.kl_block["c"] == pytest.approx(expected_c, rel=1e-5)
    kl_total = sum(r.kl_block.values())
    assert kl_total == pytest.approx(1.5 + expected_c, rel=1e-5)
    assert r.elbo == pytest.approx(-PIXELS * math.log(2) - kl_total, rel=1e-6)
    assert "c" not in r.kl_per_dim


def test_gaussian_likelihood_with_fixed_scale() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2),), likelihood="gaussian", likelihood_scale=0.5)
    r = elbo_analysis(*encoded(constant_model(spec, out=0.25), data(value=0.25)), None)
    assert r.recon == pytest.approx(-0.5 * PIXELS * math.log(2 * math.pi * 0.25))


def test_unstated_gaussian_scale_gives_nan_with_a_reason() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2),), likelihood="gaussian")
    r = elbo_analysis(*encoded(constant_model(spec, z_mean=1.0), data()), None)
    assert math.isnan(r.elbo) and math.isnan(r.recon) and "scale" in r.note
    assert r.kl_block["z"] == pytest.approx(1.0)  # the KL needs no likelihood


def test_bad_settings_are_usage_errors() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2),))
    with pytest.raises(UsageError):
        elbo_analysis(*encoded(constant_model(spec), data()), None, ElboConfig(samples=0))
