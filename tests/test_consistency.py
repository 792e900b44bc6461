"""Tests for the augmentation-consistency term on c: its known answers, the random views, the config
field that leaves every existing run unchanged at its default 0, and a short run with it on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from shared_paths import FIXTURE_MODELS
from vmieval.trainers import PRESETS, TrainConfig, pair_configs, resolve_config, train
from vmieval.trainers.augment import AffineRange, random_affine
from vmieval.trainers.objectives import consistency_divergence
from vmieval.trainers.resume import load_sidecar

import vmieval
from vmieval.checkpoints import read_payload
from vmieval.distributions import CategoricalPosterior, GaussianPosterior, Posterior
from vmieval.errors import UsageError


def tiny(**changes: object) -> TrainConfig:
    settings = dict(epochs=2, limit=128, heldout=64, batch_size=32, arch_config={"hidden": [32]}, q_hidden=16)
    settings.update(changes)
    return resolve_config("sample-joint", device="cpu", **settings)


def joint_posterior(logits: torch.Tensor) -> Posterior:
    n = logits.shape[0]
    return Posterior({"z": GaussianPosterior(torch.zeros(n, 2), torch.zeros(n, 2)), "c": CategoricalPosterior(logits)})


def weights(path: Path) -> dict[str, torch.Tensor]:
    return read_payload(path)["state_dict"]


def test_agreeing_views_cost_nothing_and_pull_nowhere() -> None:
    logits = torch.randn(5, 10)
    view = logits.clone().requires_grad_(True)
    divergence = consistency_divergence(joint_posterior(logits), joint_posterior(view))
    assert torch.allclose(divergence, torch.zeros(5), atol=1e-6)
    divergence.sum().backward()
    assert torch.allclose(view.grad, torch.zeros_like(view), atol=1e-6)


def test_a_code_that_flips_under_a_move_is_penalised_on_the_view_side_only() -> None:
    gap = 8.0
    clean = (gap * torch.eye(10)[:4]).requires_grad_(True)  # confident: class i for image i
    flipped = (gap * torch.eye(10)[1:5]).requires_grad_(True)  # the view says class i + 1
    divergence = consistency_divergence(joint_posterior(clean), joint_posterior(flipped))
    # KL(p || p') for two softmaxes that swap the peak: p_peak * gap + the tail's share, about gap here.
    assert divergence.min() > 0.9 * gap
    divergence.sum().backward()
    assert clean.grad is None or torch.count_nonzero(clean.grad) == 0
    assert flipped.grad.abs().sum() > 0


def test_views_are_reproducible_moved_copies() -> None:
    images = torch.rand(20, 1, 28, 28)
    moves = AffineRange(2.0, 10.0, 0.1)
    a = random_affine(images, torch.Generator().manual_seed(3), moves)
    b = random_affine(images, torch.Generator().manual_seed(3), moves)
    c = random_affine(images, torch.Generator().manual_seed(4), moves)
    assert a.shape == images.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.allclose(a, images, atol=0.05)
    assert random_affine(images, torch.Generator(), AffineRange(0.0, 0.0, 0.0)) is images


def test_a_config_saved_before_the_field_loads_with_the_term_off() -> None:
    saved = vmieval.load(FIXTURE_MODELS / "sample-joint-mi.pt").training_record["config"]
    assert "consistency" not in saved
    config = TrainConfig.from_dict(saved)
    assert config.consistency == 0.0


def test_the_elbo_side_of_a_pair_is_a_plain_elbo() -> None:
    elbo, mi = pair_configs(tiny(consistency=2.0))
    assert (elbo.objective, elbo.lam, elbo.consistency) == ("elbo", 0.0, 0.0) and mi.consistency == 2.0
    assert pair_configs(elbo)[1].consistency == 0.0  # a plain preset's MI side gets the preset's own weight
    with pytest.raises(UsageError, match="consistency"):
        tiny(objective="elbo", consistency=1.0)
    with pytest.raises(UsageError, match="consistency"):
        tiny(consistency=-1.0)


def test_identical_views_leave_the_run_unchanged(tmp_path: Path) -> None:
    """With zero move ranges the term is 0 with a zero gradient, and its own generator leaves the batch
    order and sampling noise alone: the weights equal those of a run without the term, up to the
    rounding of softmax sums in the zero gradient. With the weight at 0 (the default) the term is not
    computed at all: no extra generator, no extra history key."""
    plain = train(tiny(), tmp_path / "plain.pt")
    still = train(tiny(consistency=5.0, augment_shift=0.0, augment_rotation=0.0, augment_scale=0.0), tmp_path / "s.pt")
    assert all(r["train_consistency"] == 0.0 for r in still.history)
    moved = train(tiny(consistency=5.0), tmp_path / "moved.pt")
    assert "train_consistency" not in plain.history[-1]
    assert set(load_sidecar(plain.resume_path)["rng"]) == {"order", "sample"}
    a, b = weights(plain.path), weights(still.path)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=0, atol=1e-5) for k in a)
    c = weights(moved.path)  # the same check fails once the views really move
    assert not all(torch.allclose(a[k], c[k], rtol=0, atol=1e-5) for k in a)


def test_a_run_with_the_term_trains_and_resumes_exactly(tmp_path: Path) -> None:
    config = tiny(consistency=2.0)
    full = train(config, tmp_path / "full.pt")
    assert all(math.isfinite(r["train_consistency"]) and r["train_consistency"] > 0 for r in full.history)
    train(config.replace(epochs=1), tmp_path / "cut.pt")
    resumed = train(config, tmp_path / "cut.pt", resume=True)
    a, b = weights(full.path), weights(resumed.path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[-1]["train_consistency"] == full.history[-1]["train_consistency"]


def test_consistency_presets_pair_a_plain_elbo_model_with_the_term_on_the_mi_side() -> None:
    for name in ("mnist-joint-consistency", "fashion-joint-consistency"):
        elbo, mi = pair_configs(PRESETS[name])
        assert mi.consistency > 0 and mi.lam == PRESETS[name.replace("-consistency", "")].lam
        assert elbo.consistency == 0.0 and elbo.lam == 0.0
        assert elbo.replace(objective="mi", lam=mi.lam, consistency=mi.consistency) == mi
