"""The encoded split: built once per model, the only encoder pass a report makes."""

from __future__ import annotations

import math

import pytest
import torch

from vmieval.data import ImageData, load_images
from vmieval.distributions import CategoricalPosterior
from vmieval.encoded import encode_split
from vmieval.errors import DataError
from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.crossfit import fresh_count
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.results import ReportConfig, build_report
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target

SPEC = ModelSpec((1, 28, 28), (gaussian("z", 3), categorical("c", 10)))


class Counted:
    """Counts the images that pass through a function (an encoder or a decoder)."""

    def __init__(self, fn) -> None:
        self.fn, self.images, self.calls = fn, 0, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.images += x.shape[0]
        self.calls += 1
        return self.fn(x)


def counted_model(seed: int = 0) -> tuple[FrozenVAE, Counted, Counted]:
    g = torch.Generator().manual_seed(seed)
    w_enc = 0.05 * torch.randn(28 * 28, SPEC.param_width, generator=g)
    w_dec = torch.randn(SPEC.latent_width, 28 * 28, generator=g)
    encode = Counted(lambda x: x.flatten(1) @ w_enc)
    decode = Counted(lambda z: (z @ w_dec).view(-1, 1, 28, 28))
    return FrozenVAE(SPEC, encode, decode, CheckpointInfo("memory", "test", "0" * 64, "callables")), encode, decode


def test_a_report_encodes_each_image_exactly_once() -> None:
    """MI, ELBO, clusters, contingency and traversals all read one encoding: N encoder images per
    model; the decoder sees only the ELBO's N codes, Q's generated pairs, the traversal cells and the
    traversals' reconstructions of their input images."""
    data = load_images("mnist-sample", "test", limit=150)
    config = ReportConfig(seed=0, mi=MIConfig(samples=200, max_epochs=1, patience=1, q_hidden=16))
    for seed in (0, 1):
        model, encode, decode = counted_model(seed)
        report = build_report(model, data, f"m{seed}", config)
        assert encode.images == len(data), "a report must encode its split exactly once"
        cells = sum(g.cells.shape[0] * g.cells.shape[1] for g in report.traversals.grids)
        # cross-fitting also decodes the fresh pairs that every fold's Q scores (its fitting noise)
        fresh = fresh_count(config.mi.samples, config.mi.folds) if config.mi.folds > 1 else 0
        recons = len(report.traversals.sample_indices)
        assert decode.images == len(data) * config.elbo.samples + config.mi.samples + fresh + cells + recons
        assert report.estimates and report.elbo is not None and report.cluster is not None


def test_split_holds_posteriors_kl_and_aggregate_entropy() -> None:
    model, encode, _ = counted_model()
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    factors = torch.arange(80, dtype=torch.float64).view(40, 2)
    split = encode_split(model, ImageData(images, None, "rand", "test", "", factors, ("a", "b")), batch_size=16)
    assert encode.calls == 3 and encode.images == 40 and split.n == len(split) == 40
    assert split.labels is None and not split.labelled and split.factor_names == ("a", "b")
    assert split.factors is factors and split.images is images
    c = split.posterior["c"]
    assert isinstance(c, CategoricalPosterior)
    assert torch.equal(split.kl["c"], c.kl_to_prior()) and split.kl_per_dim["z"].shape == (40, 3)
    p_bar = c.log_probs.double().exp().mean(0)
    assert split.aggregate_entropy["c"] == pytest.approx(float(-(p_bar * p_bar.log()).sum()), abs=1e-12)
    assert 0.0 <= split.aggregate_entropy["c"] <= math.log(10)
    parts = split.target(parse_target("c,z[1:3]", SPEC))
    assert parts[0].logits.dtype == torch.float64 and parts[0].normalised
    assert torch.equal(parts[1].mean, split.posterior["z"].mean[:, 1:3].double())


def test_an_empty_or_mislabelled_split_is_a_data_error() -> None:
    model, _, _ = counted_model()
    with pytest.raises(DataError):
        encode_split(model, ImageData(torch.zeros(0, 1, 28, 28), None, "empty", "test", ""))
    with pytest.raises(DataError):
        encode_split(model, ImageData(torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.long), "bad", "test", ""))
