"""Tests for the reference trainers: objectives, presets, the loop, pairs and exact resume.

Every run is tiny (a few hundred sample images, a one-layer MLP, a few epochs), so the file runs
in seconds on two cores while still exercising the real data, checkpoint and resume paths.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from vmieval.trainers import (
    HISTORY_KEYS,
    PRESETS,
    TrainConfig,
    build_models,
    pair_configs,
    resolve_config,
    train,
    train_pair,
)
from vmieval.trainers.loop import temperature_at
from vmieval.trainers.objectives import target_entropy
from vmieval.trainers.resume import load_sidecar, sidecar_path

from vmieval import load_checkpoint
from vmieval.checkpoints import read_payload
from vmieval.distributions import CategoricalPosterior, GaussianPosterior
from vmieval.errors import OutputError, UsageError
from vmieval.estimators.encoder import categorical_mi
from vmieval.spec import parse_target


def tiny(preset: str = "sample-joint", **changes: object) -> TrainConfig:
    settings = dict(
        epochs=3,
        limit=256,
        heldout=128,
        batch_size=32,
        arch_config={"hidden": [64]},
        q_hidden=32,
        device="cpu",
    )
    settings.update(changes)
    return resolve_config(preset, **settings)


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- objectives ----------------------------------------------------------------------------------
def test_history_exact_mi_known_answers() -> None:
    def exact_categorical_mi(log_probs: torch.Tensor) -> float:
        return categorical_mi(log_probs)[0]

    k = 10
    confident = torch.log_softmax(50.0 * torch.eye(k).repeat(3, 1), dim=1)  # each x -> its own class
    assert exact_categorical_mi(confident) == pytest.approx(math.log(k), abs=1e-4)
    collapsed = torch.log_softmax(50.0 * torch.eye(k)[[0] * 30], dim=1)  # every x -> class 0
    assert exact_categorical_mi(collapsed) == pytest.approx(0.0, abs=1e-4)
    uniform = torch.full((30, k), -math.log(k))
    assert exact_categorical_mi(uniform) == pytest.approx(0.0, abs=1e-6)


def test_aggregate_entropy_is_not_fooled_by_a_collapsed_encoder() -> None:
    spec = PRESETS["sample-joint"].spec()
    target = parse_target("c", spec)
    collapsed = {"c": CategoricalPosterior(50.0 * torch.eye(10)[[3] * 16])}
    assert float(target_entropy(spec, target, collapsed, "prior")) == pytest.approx(math.log(10))
    assert float(target_entropy(spec, target, collapsed, "aggregate")) == pytest.approx(0.0, abs=1e-4)
    gauss = PRESETS["sample-gauss32"].spec()
    z_target = parse_target("z[0:2]", gauss)
    expected = math.log(2 * math.pi * math.e)  # 0.5 * d * log(2 pi e) with d = 2
    z_posterior = {"z": GaussianPosterior(torch.randn(16, 32), torch.zeros(16, 32))}
    assert float(target_entropy(gauss, z_target, z_posterior, "aggregate")) == pytest.approx(expected)


def test_temperature_schedule_decays_then_holds() -> None:
    cfg = tiny(temperature_start=1.0, temperature_end=0.25, temperature_anneal_epochs=2)
    assert temperature_at(cfg, 0, 10) == pytest.approx(1.0)
    assert temperature_at(cfg, 10, 10) == pytest.approx(0.5)
    assert temperature_at(cfg, 20, 10) == pytest.approx(0.25)
    assert temperature_at(cfg, 95, 10) == pytest.approx(0.25)


# -- presets -------------------------------------------------------------------------------------
def test_presets_cover_both_settings_on_three_datasets() -> None:
    for prefix in ("mnist", "fashion", "sample"):
        joint, gauss = PRESETS[f"{prefix}-joint"], PRESETS[f"{prefix}-gauss32"]
        assert [b.kind for b in joint.spec().blocks] == ["gaussian", "categorical"]
        assert joint.mi_target == "c" and gauss.mi_target == "z[0:2]"
        assert [b.size for b in gauss.spec().blocks] == [32]
    with pytest.raises(UsageError):
        resolve_config("no-such-preset")
    with pytest.raises(UsageError):
        resolve_config("sample-joint", objective="elbo", lam=3.0)
    assert resolve_config("sample-joint", architecture="conv").arch_config["fc"] == 512


def test_config_round_trips_through_json() -> None:
    cfg = tiny()
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


# -- the loop ------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["sample-gauss32", "sample-joint"])
@pytest.mark.parametrize("objective", ["elbo", "mi"])
def test_short_run_lowers_the_loss(tmp_path: Path, preset: str, objective: str) -> None:
    result = train(tiny(preset, objective=objective), tmp_path / "m.pt")
    first, last = result.history[0], result.history[-1]
    assert len(result.history) == 3
    assert last["train_loss"] < first["train_loss"]
    assert last["elbo"] > first["elbo"]
    assert all(set(HISTORY_KEYS) <= set(r) for r in result.history)


def test_checkpoint_loads_with_its_training_record(tmp_path: Path) -> None:
    cfg = tiny(epochs=2)
    result = train(cfg, tmp_path / "m.pt")
    vae = load_checkpoint(result.path)
    record = vae.training_record
    assert record["epochs_done"] == 2 and record["seed"] == cfg.seed and record["dataset"] == "mnist-sample"
    assert TrainConfig.from_dict(record["config"]) == cfg
    assert [r["epoch"] for r in record["history"]] == [1, 2]
    last = record["history"][-1]
    assert set(HISTORY_KEYS) <= set(last)
    assert set(last["kl"]) == {"z", "c"} and len(last["kl_per_dim"]["z"]) == 16
    assert 0.0 <= last["iq_exact"]["c"] <= math.log(10) + 1e-6
    assert last["mi_bound"] == pytest.approx(last["mi_entropy"] + last["mi_log_q"])
    posterior = vae.encode(torch.zeros(2, 1, 28, 28))
    assert posterior["c"].logits.shape == (2, 10)
    sidecar = load_sidecar(sidecar_path(result.path))  # weights_only=True inside
    assert sidecar["epochs_done"] == 2


def test_existing_checkpoint_is_not_overwritten_without_force(tmp_path: Path) -> None:
    cfg = tiny(epochs=1, limit=64)
    train(cfg, tmp_path / "m.pt")
    with pytest.raises(OutputError, match="--force"):
        train(cfg, tmp_path / "m.pt")
    train(cfg, tmp_path / "m.pt", force=True)


def test_pair_starts_from_identical_weights() -> None:
    elbo_cfg, mi_cfg = pair_configs(tiny())
    assert (elbo_cfg.objective, elbo_cfg.lam, mi_cfg.objective) == ("elbo", 0.0, "mi") and mi_cfg.lam > 0
    (vae_a, q_a), (vae_b, q_b) = build_models(elbo_cfg), build_models(mi_cfg)
    assert states_equal(vae_a.state_dict(), vae_b.state_dict())
    assert states_equal(q_a.state_dict(), q_b.state_dict())
    vae_c, _ = build_models(mi_cfg.replace(seed=1))
    assert not states_equal(vae_a.state_dict(), vae_c.state_dict())


def test_pair_differs_only_by_the_mi_term(tmp_path: Path) -> None:
    """With lam = 0 the MI model must retrace the ELBO model exactly: same init, order and noise."""
    elbo, mi = train_pair(tiny(epochs=2, lam=0.0), tmp_path)
    assert elbo.path.name == "sample-joint-elbo.pt" and mi.path.name == "sample-joint-mi.pt"
    a, b = read_payload(elbo.path)["state_dict"], read_payload(mi.path)["state_dict"]
    assert states_equal(a, b)
    (tmp_path / "lam").mkdir()
    elbo2, mi2 = train_pair(tiny(epochs=2), tmp_path / "lam")
    assert not states_equal(read_payload(elbo2.path)["state_dict"], read_payload(mi2.path)["state_dict"])


class Interrupt(Exception):
    pass


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = tiny(epochs=3)
    full = train(cfg, tmp_path / "full.pt")

    def stop_in_epoch_two(event: object) -> None:
        if getattr(event, "kind", "") == "step" and event.step == event.total // 3 + 1:  # type: ignore[attr-defined]
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg, tmp_path / "cut.pt", callback=stop_in_epoch_two)
    assert read_payload(tmp_path / "cut.pt") is not None
    resumed = train(cfg, tmp_path / "cut.pt", resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert states_equal(read_payload(full.path)["state_dict"], read_payload(resumed.path)["state_dict"])
    assert states_equal(load_sidecar(full.resume_path)["q"], load_sidecar(resumed.resume_path)["q"])
    drop = {"seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in full.history] == [
        {k: v for k, v in r.items() if k not in drop} for r in resumed.history
    ]


def test_resume_refuses_different_settings(tmp_path: Path) -> None:
    train(tiny(epochs=1, limit=64), tmp_path / "m.pt")
    with pytest.raises(UsageError, match="lr"):
        train(tiny(epochs=2, limit=64, lr=5e-4), tmp_path / "m.pt", resume=True)


def test_beta_z_schedule_decays_linearly_to_one() -> None:
    from vmieval.trainers.loop import beta_z_at
    from vmieval.trainers.presets import resolve_config

    constant = resolve_config("sample-joint", beta_z=4.0)
    assert beta_z_at(constant, 0, 10) == beta_z_at(constant, 10_000, 10) == 4.0
    annealed = resolve_config("sample-joint", beta_z=4.0, beta_z_anneal_epochs=2)
    assert [beta_z_at(annealed, step, 10) for step in (0, 10, 20, 30)] == [4.0, 2.5, 1.0, 1.0]
