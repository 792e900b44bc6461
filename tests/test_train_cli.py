"""`vmieval train-reference` through click's CliRunner: files written, table shown, one-line errors."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from vmieval.cli.main import cli

from vmieval import load_checkpoint

QUICK = ["--epochs", "1", "--limit", "64", "--device", "cpu"]


def invoke(*args: str):
    return CliRunner().invoke(cli, ["train-reference", *args])


def test_pair_writes_both_checkpoints_and_a_table(tmp_path: Path) -> None:
    result = invoke("--preset", "sample-joint", "--pair", "--out", str(tmp_path), *QUICK)
    assert result.exit_code == 0, result.output
    for objective in ("elbo", "mi"):
        path = tmp_path / f"sample-joint-{objective}.pt"
        assert path.is_file() and (tmp_path / f"sample-joint-{objective}.resume.pt").is_file()
        assert load_checkpoint(path).training_record["objective"] == objective
        assert str(path) in result.output
    assert "I_q(x;c) exact" in result.output and "KL c" in result.output


def test_existing_checkpoint_needs_force_or_resume(tmp_path: Path) -> None:
    args = ["--preset", "sample-gauss32", "--objective", "elbo", "--out", str(tmp_path), *QUICK]
    assert invoke(*args).exit_code == 0
    refused = invoke(*args)
    assert refused.exit_code == 6
    assert refused.output.strip().count("\n") == 0 and "--force" in refused.output
    resumed = invoke(*args[:-6], "--epochs", "2", "--limit", "64", "--device", "cpu", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(tmp_path / "sample-gauss32-elbo.pt").training_record["epochs_done"] == 2


def test_bad_preset_is_one_line(tmp_path: Path) -> None:
    result = invoke("--preset", "imagenet-joint", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "is not one of" in result.output
    assert not any(tmp_path.iterdir())


def test_pair_with_objective_is_refused(tmp_path: Path) -> None:
    result = invoke("--preset", "sample-joint", "--pair", "--objective", "mi", "--out", str(tmp_path))
    assert result.exit_code == 2 and "--pair" in result.output


def test_beta_z_options_reach_the_recorded_config(tmp_path: Path) -> None:
    args = ["--preset", "sample-joint", "--objective", "mi", "--out", str(tmp_path), *QUICK]
    result = invoke(*args, "--beta-z", "4", "--beta-z-anneal-epochs", "3")
    assert result.exit_code == 0, result.output
    config = load_checkpoint(tmp_path / "sample-joint-mi.pt").training_record["config"]
    assert config["beta_z"] == 4.0 and config["beta_z_anneal_epochs"] == 3
    refused = invoke(*args, "--beta-z", "0", "--force")
    assert refused.exit_code == 2 and "beta_z must be positive" in refused.output


def test_consistency_reaches_the_mi_model_and_is_refused_for_elbo(tmp_path: Path) -> None:
    args = ["--preset", "sample-joint", "--out", str(tmp_path), *QUICK]
    result = invoke(*args, "--objective", "mi", "--consistency", "2")
    assert result.exit_code == 0, result.output
    assert load_checkpoint(tmp_path / "sample-joint-mi.pt").training_record["config"]["consistency"] == 2.0
    refused = invoke(*args, "--objective", "elbo", "--consistency", "2")
    assert refused.exit_code == 2 and refused.output.strip().count("\n") == 0 and "--consistency" in refused.output
