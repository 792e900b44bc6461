"""The paper presets: architecture, loss equivalence, the iteration loop, exact resume, and GPU parity.

Runs are tiny (the embedded MNIST sample, a few iterations of the paper's conv nets at a quarter of its
batch), so the file takes seconds while exercising the real data, checkpoint and resume paths.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from vmieval.trainers.objectives import forward
from vmieval.trainers.paper_loop import PAPER_HISTORY_KEYS, epoch_order, train_paper
from vmieval.trainers.paper_objective import q_batch, vae_terms
from vmieval.trainers.presets import PRESETS, TrainConfig, pair_configs, resolve_config
from vmieval.trainers.resume import load_sidecar, sidecar_path

from vmieval.architectures import build_architecture
from vmieval.checkpoints import load_checkpoint
from vmieval.errors import CheckpointError, UsageError
from vmieval.spec import parse_target

PAPER_PRESETS = ("mnist-joint-paper", "mnist-gauss32-paper", "fashion-joint-paper", "fashion-gauss32-paper")


def tiny(preset: str = "sample-joint-paper", **changes: object) -> TrainConfig:
    """The preset with a tiny budget. Nothing tested here depends on the batch size, so a quarter of the
    preset's 124 (a quarter of its step's cost): 80 images / batch 32 = 2 batches per epoch."""
    settings = dict(
        iterations=6, eval_every=3, checkpoint_every=3, batch_size=32, limit=80, heldout=20, eval_train_images=64,
        device="cpu",
    )  # fmt: skip
    settings.update(changes)
    return resolve_config(preset, **settings)


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_presets_follow_the_protocol() -> None:
    for name in PAPER_PRESETS:
        cfg = PRESETS[name]
        assert (cfg.batch_size, cfg.lr, cfg.q_lr, cfg.iterations, cfg.seed) == (124, 1e-4, 1e-4, 150_000, 1)
        assert cfg.temperature_start == cfg.temperature_end == 1.0 and cfg.kl_weight == 0.005
        spec = cfg.spec()
        assert spec.likelihood == "gaussian" and spec.value_range == (-1.0, 1.0)
        # mean-MSE = kl_w * sum (x - x_hat)^2 / (2 s^2) exactly when s^2 = kl_w * pixels / 2.
        assert spec.likelihood_scale**2 == pytest.approx(0.005 * 784 / 2)
    assert PRESETS["mnist-joint-paper"].mi_target == "c,z[0:2]" and PRESETS["mnist-joint-paper"].lam == 0.01
    assert PRESETS["fashion-joint-paper"].mi_target == "c" and PRESETS["fashion-joint-paper"].lam == 0.0005
    assert PRESETS["mnist-gauss32-paper"].mi_on_prior
    elbo, mi = pair_configs(PRESETS["mnist-joint-paper"])
    assert elbo.lam == 0 and mi.lam == 0.01 and elbo.replace(objective="mi", lam=0.01) == mi


def test_architecture_shapes_logstd_and_tanh_range() -> None:
    cfg = PRESETS["mnist-joint-paper"]
    spec = cfg.spec()
    torch.manual_seed(0)
    net = build_architecture("paper-conv", cfg.arch_config, spec)
    params = net.encode(torch.rand(5, 1, 28, 28) * 2 - 1)
    assert params.shape == (5, spec.param_width) == (5, 42)
    raw = net.encoder(torch.zeros(3, 1, 28, 28))  # the paper's head: [mean 16, log-std 16, logits 10]
    assert torch.allclose(net.encode(torch.zeros(3, 1, 28, 28))[:, 16:32], 2 * raw[:, 16:32])
    assert torch.equal(net.encode(torch.zeros(3, 1, 28, 28))[:, 32:], raw[:, 32:])
    with torch.no_grad():
        out = net.decode(100 * torch.randn(4, spec.latent_width))
    assert out.shape == (4, 1, 28, 28) and float(out.abs().max()) <= 1.0
    bernoulli = PRESETS["mnist-joint"].spec()
    with pytest.raises(CheckpointError, match="tanh"):
        build_architecture("paper-conv", cfg.arch_config, bernoulli)


def test_paper_loss_is_kl_weight_times_negative_elbo_plus_a_constant() -> None:
    cfg = PRESETS["sample-joint-paper"]
    spec, target = cfg.spec(), parse_target(cfg.mi_target, cfg.spec())
    torch.manual_seed(0)
    net = build_architecture("paper-conv", cfg.arch_config, spec)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    fp = forward(net, spec, target, x, torch.Generator().manual_seed(0), 1.0)
    terms = vae_terms(fp, x, cfg.kl_weight)
    constant = 0.5 * 784 * math.log(2 * math.pi * spec.likelihood_scale**2)
    expected = cfg.kl_weight * float(-fp.elbo.mean().detach() - constant)
    assert float(terms.total.detach()) == pytest.approx(expected, rel=1e-5)


def test_mi_on_prior_scores_q_on_decoded_prior_codes_first() -> None:
    cfg = PRESETS["sample-gauss32-paper"]
    spec, target = cfg.spec(), parse_target(cfg.mi_target, cfg.spec())
    net = build_architecture("paper-conv", cfg.arch_config, spec)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    fp = forward(net, spec, target, x, torch.Generator().manual_seed(0), 1.0)
    batch = q_batch(net, spec, target, fp, torch.Generator().manual_seed(1), on_prior=True)
    assert batch.images.shape == (12, 1, 28, 28) and batch.targets[0].shape == (12, 2)
    assert torch.equal(batch.images[6:], fp.x_hat) and torch.equal(batch.targets[0][6:], fp.targets[0])


def test_epoch_order_is_a_permutation_fixed_by_seed_and_epoch() -> None:
    a = epoch_order(1, 3, 500)
    assert torch.equal(torch.sort(a).values, torch.arange(500))
    assert torch.equal(a, epoch_order(1, 3, 500)) and not torch.equal(a, epoch_order(1, 4, 500))


def test_run_records_curves_and_checkpoint_loads_safely(tmp_path: Path) -> None:
    result = train_paper(tiny(), tmp_path / "m.pt")
    assert [r["iteration"] for r in result.history] == [3, 6]
    for record in result.history:
        assert set(record) == set(PAPER_HISTORY_KEYS)
        assert 0.0 <= record["acc_majority_train_paper"] <= 1.0 and 0.0 <= record["acc_hungarian_test"] <= 1.0
        assert set(record["train_ce"]) == {"c", "z[0:2]"} and record["kl"]["c"] >= 0.0
    model = load_checkpoint(tmp_path / "m.pt")  # weights_only load of a registered architecture, BN buffers too
    assert model.spec.value_range == (-1.0, 1.0)
    assert any(k.endswith("running_var") for k in model._module.state_dict())
    assert model.training_record["iterations_done"] == 6


def test_resume_mid_epoch_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    # 2 batches per epoch: 5 iterations cross epoch boundaries, and the resume at 3 starts mid-epoch.
    # A record every iteration; a checkpoint only where a run ends (3, 5), so the whole run never saves midway.
    every = dict(eval_every=1, checkpoint_every=5)
    whole = train_paper(tiny(iterations=5, **every), tmp_path / "a.pt")
    train_paper(tiny(iterations=3, **every), tmp_path / "b.pt")
    resumed = train_paper(tiny(iterations=5, **every), tmp_path / "b.pt", resume=True)
    a, b = load_checkpoint(tmp_path / "a.pt"), load_checkpoint(tmp_path / "b.pt")
    assert states_equal(a._module.state_dict(), b._module.state_dict())
    assert states_equal(load_sidecar(sidecar_path(whole.path))["q"], load_sidecar(sidecar_path(resumed.path))["q"])
    assert [r["train_loss"] for r in whole.history] == [r["train_loss"] for r in resumed.history]


def test_stop_checkpoints_early_and_resume_refuses_other_settings(tmp_path: Path) -> None:
    calls = iter(range(100))
    result = train_paper(tiny(iterations=50), tmp_path / "m.pt", stop=lambda: next(calls) >= 1)
    assert (
        result.history[-1]["iteration"] == 2
        and load_checkpoint(tmp_path / "m.pt").training_record["iterations_done"] == 2
    )
    with pytest.raises(UsageError, match="different settings"):
        train_paper(tiny(iterations=50, lr=1e-3), tmp_path / "m.pt", resume=True)


def test_config_refuses_inconsistent_paper_settings() -> None:
    with pytest.raises(UsageError, match="multiple of eval_every"):
        tiny(eval_every=4, checkpoint_every=6)
    with pytest.raises(UsageError, match="one per MI target part"):
        tiny(mi_part_weights=(1.0,))
    with pytest.raises(UsageError, match="only to the paper loss"):
        resolve_config("sample-joint", iterations=10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_preset_runs_on_cuda(tmp_path: Path) -> None:
    result = train_paper(tiny(device="cuda"), tmp_path / "m.pt")
    assert result.device.startswith("cuda") and math.isfinite(result.history[-1]["elbo"])
    cpu = train_paper(tiny(), tmp_path / "c.pt")
    # Same data, init and batches; GPU kernels round differently, so a few iterations agree closely, not bit for bit.
    assert result.history[0]["train_mse"] == pytest.approx(cpu.history[0]["train_mse"], rel=0.05)
