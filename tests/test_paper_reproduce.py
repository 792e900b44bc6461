"""Smoke test of `benchmarks/reproduce_paper.py collect`: a tiny sample-joint-paper pair, reported with
`vmieval report --json` (in process, as in test_reproduce_quick.py), merged into an existing results.json
without touching the other presets' records, with the paper-protocol accuracy and the curves PNG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from vmieval.cli.main import cli
from vmieval.trainers.paper_loop import train_paper
from vmieval.trainers.presets import resolve_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def paper_results(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import paper_results as module
    import reproduce

    def run_in_process(cmd: list[str], log: Path) -> str:
        result = CliRunner().invoke(cli, cmd[len(reproduce.VMIEVAL) :], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr[-2000:]
        return result.stdout

    monkeypatch.setattr(reproduce, "run_logged", run_in_process)
    return module


def test_collect_reports_merges_and_plots(paper_results, tmp_path: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    (runs / "sample-joint-paper" / "seed1").mkdir(parents=True)
    for objective in ("elbo", "mi"):
        config = resolve_config(
            "sample-joint-paper", objective=objective, iterations=4, eval_every=2, checkpoint_every=2,
            batch_size=32, limit=100, heldout=64, eval_train_images=64, device="cpu",
        )  # fmt: skip
        train_paper(config, runs / "sample-joint-paper" / "seed1" / f"sample-joint-paper-{objective}.pt")
    out.mkdir()
    other = {"dataset": "mnist", "setting": "joint", "objective": "mi", "seed": 0, "acc_hungarian_test": 0.5}
    (out / "results.json").write_text(json.dumps({"meta": {"seeds": [0]}, "runs": [other]}))

    paper_results.collect(runs, out, "test", eval_images=100, q_pairs=200, q_folds=2)

    doc = json.loads((out / "results.json").read_text())
    assert other in doc["runs"] and doc["meta"]["seeds"] == [0]
    paper = [r for r in doc["runs"] if r["setting"] == "joint-paper"]
    assert sorted(r["objective"] for r in paper) == ["elbo", "mi"]
    for record in paper:
        assert record["iterations"] == 4
        for key in ("acc_majority_train_paper", "acc_majority_train", "acc_hungarian_test", "kl_target"):
            assert 0.0 <= record[key] <= (1.0 if key.startswith("acc") else 2.31)
    rows = {(r["setting"], r["objective"]): r for r in doc["summary"]}
    assert rows[("joint-paper", "mi")]["iterations"] == [4] and ("joint", "mi") in rows
    assert "Iterations reached (of the paper's 150,000): 4." in (out / "results.md").read_text()
    assert (out / "paper_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
