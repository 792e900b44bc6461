"""`vmieval sweep` and `vmieval merge` from the command line (in process)."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
from click.testing import CliRunner
from sweep_models import make_grid
from vmieval.cli.main import cli

CHEAP = ["--data", "mnist-sample", "--limit", "64", "--samples", "160", "--folds", "2", "--max-epochs", "2"]


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_sweep_writes_the_table_figures_and_resumes(tmp_path: Path):
    pytest.importorskip("submitit")
    make_grid(tmp_path / "runs", lams=(1, 5), seeds=(0, 1))
    out = tmp_path / "sweep"
    args = ["sweep", str(tmp_path / "runs" / "**" / "model.pt"), "--out", str(out), *CHEAP, "--q-hidden", "16"]
    args += ["--executor", "slurm", "--slurm-cluster", "debug", "--workers", "1", "--format", "md"]
    first = _invoke(args)
    assert first.exit_code == 0, first.output
    lines = [line for line in first.stdout.splitlines() if line.startswith("| lam")]
    assert len(lines) == 4 and all("| done |" in line and " ± " in line for line in lines)
    assert {p.name for p in out.iterdir()} >= {"sweep.h5", "sweep.csv", "metric-vs-lam.png", "rate-plane.png"}
    csv_before = (out / "sweep.csv").read_text()
    again = _invoke(args)
    assert again.exit_code == 0 and (out / "sweep.csv").read_text() == csv_before
    merged = _invoke(["merge", str(out), "--out", str(tmp_path / "merged"), "--format", "csv"])
    assert merged.exit_code == 0 and (tmp_path / "merged" / "sweep.csv").read_text() == csv_before


def test_bad_input_is_one_line(tmp_path: Path):
    result = CliRunner().invoke(cli, ["sweep", str(tmp_path / "*.nothing")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "matches no file" in result.output
    make_grid(tmp_path / "runs", lams=(1,), seeds=(0,))
    model = str(tmp_path / "runs" / "lam1" / "seed0" / "model.pt")
    result = CliRunner().invoke(cli, ["sweep", model, "--name-from", "(unclosed"])
    assert result.exit_code == 2 and "not a regular expression" in result.output
    result = CliRunner().invoke(cli, ["merge", str(tmp_path)])
    assert result.exit_code == 2 and "neither a sweep folder" in result.output


def test_a_missing_engine_is_one_line_naming_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    make_grid(tmp_path / "runs", lams=(1,), seeds=(0,))
    args = ["sweep", str(tmp_path / "runs" / "lam1" / "seed0" / "model.pt"), "--out", str(tmp_path / "s"), *CHEAP]
    result = CliRunner().invoke(cli, [*args, "--no-mi", "--executor", "ray"])
    assert result.exit_code == 2 and "pip install 'vmieval[ray]'" in result.output
