"""Smoke test of the paper reproduction: `benchmarks/reproduce.py --quick` end to end (CLI training,
`vmieval report --json`, the summary table), and that a second invocation resumes instead of
retraining. Tiny (mnist-sample, 200 images, 1 epoch).

In-process: the script's CLI steps (`run_logged`, which would start `python -m vmieval.cli.main`)
go through click's CliRunner with the same arguments, so the test pays for torch's import once
instead of once per step (pytorch/examples' `--dry-run` idea). The subprocess wrapper itself is
ten lines of `subprocess.run`; everything it runs is exercised here.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from vmieval.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def reproduce(monkeypatch: pytest.MonkeyPatch):
    """benchmarks/reproduce.py as a module, its CLI steps run in this process."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import reproduce as module

    def run_in_process(cmd: list[str], log: Path) -> str:
        assert cmd[: len(module.VMIEVAL)] == module.VMIEVAL, cmd
        result = CliRunner().invoke(cli, cmd[len(module.VMIEVAL) :], catch_exceptions=False)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as err:
            err.write(f"$ {' '.join(cmd)}\n{result.stderr}")
        assert result.exit_code == 0, result.stderr[-2000:]
        return result.stdout

    monkeypatch.setattr(module, "run_logged", run_in_process)
    return module


def run_quick(reproduce, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    argv = ["reproduce.py", "--quick", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", argv)
    reproduce.main()
    return json.loads((tmp_path / "out" / "results.json").read_text())


def test_quick_reproduction_writes_results_and_resumes(
    reproduce, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = run_quick(reproduce, tmp_path, monkeypatch)
    rows = {(r["setting"], r["objective"]): r for r in doc["summary"]}
    assert set(rows) == {("joint", "elbo"), ("joint", "mi"), ("gauss32", "elbo"), ("gauss32", "mi")}
    assert len(doc["runs"]) == 4 and all(r["dataset"] == "sample" for r in doc["runs"])
    for run in doc["runs"]:
        for key in ("acc_hungarian_test", "acc_majority_train", "nmi_test"):
            assert 0.0 <= run[key] <= 1.0, (key, run)
        for key in ("kl_target", "iq_encoder", "q_bound_valid", "q_bound_paper", "elbo_test"):
            assert run[key] is not None and math.isfinite(run[key]), (key, run)
        assert run["elbo_test"] < 0 and run["kl_target"] >= 0
        if run["setting"] == "joint":
            # Exact I_q(x; c) lies in [0, log K]; the clusters are argmax q(c|x), not the k-means baseline.
            assert -1e-6 <= run["iq_encoder"] <= math.log(10) + 1e-6
            assert run["cluster_method"] == "argmax q(c|x)"
        else:
            assert "k-means" in run["cluster_method"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## sample, joint" in md and "| ELBO (test, nats/image) |" in md

    checkpoints = sorted((tmp_path / "runs").rglob("*.pt"))
    stamps = {p: p.stat().st_mtime_ns for p in checkpoints}
    again = run_quick(reproduce, tmp_path, monkeypatch)
    assert {p: p.stat().st_mtime_ns for p in checkpoints} == stamps  # nothing retrained
    assert all(r["train_seconds_this_invocation"] == 0.0 for r in again["runs"])
    assert again["summary"] == doc["summary"]  # cached reports give the same numbers
