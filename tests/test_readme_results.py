"""The README's results tables are generated from benchmarks/results/results.json (benchmarks/readme_results.py):
the committed README must hold exactly what the committed JSON renders, and the renderer must put each number
in its column."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def readme_results():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import readme_results

        yield readme_results
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _stat(mean: float | None, std: float = 0.0, n: int = 1) -> dict:
    return {"mean": mean, "std": std if mean is not None else None, "n": n if mean is not None else 0}


def _row(dataset: str, setting: str, objective: str, acc: float, **extra) -> dict:
    none = _stat(None)
    row = {"dataset": dataset, "setting": setting, "objective": objective, "seeds": 1, "n_train": [60000]}
    row |= {key: none for key in ("acc_majority_train", "acc_majority_train_paper", "nmi_test", "kl_target")}
    row |= {key: none for key in ("iq_encoder", "q_bound_valid", "q_bound_paper", "elbo_test")}
    row |= {"acc_hungarian_test": _stat(acc), "epochs": [3.0]} | extra
    return row


def test_committed_readme_holds_what_results_json_renders(readme_results):
    document = json.loads((ROOT / "benchmarks" / "results" / "results.json").read_text())
    readme = (ROOT / "README.md").read_text()
    expected = readme_results.results_block(document)
    assert expected in readme, "README results block is stale: run benchmarks/readme_results.py"


def test_each_number_lands_in_its_column_and_empty_rows_are_dropped(readme_results):
    summary = [
        _row("mnist", "joint", "elbo", 0.125),
        _row("mnist", "joint", "mi", 0.875, kl_target=_stat(2.25, 0.01, 3), seeds=3),
        _row("fashion", "joint", "mi", 0.625),
    ]
    lines = readme_results.setting_table(summary, "joint")
    header = next(line for line in lines if line.startswith("| metric"))
    assert header == "| metric | MNIST ELBO | MNIST MI | paper ELBO / MI | Fashion MI |"
    acc = next(line for line in lines if line.startswith("| cluster accuracy, Hungarian"))
    assert acc.split(" | ")[1:] == ["0.125", "0.875", "–", "0.625 |"]
    kl = next(line for line in lines if line.startswith("| KL of the MI target"))
    assert kl.split(" | ")[1:] == ["–", "2.250 ± 0.010", "0.890 / 2.220", "– |"]
    assert not any(line.startswith("| NMI") for line in lines)  # no model has it
    assert "- MNIST MI: 3 seeds, 60,000 training images, 3 epochs" in lines


def test_iteration_budgets_are_stated(readme_results):
    summary = [_row("mnist", "joint-paper", "mi", 0.5, iterations=[4500], epochs=[9.3])]
    lines = readme_results.setting_table(summary, "joint-paper")
    assert "- MNIST MI: 1 seed, 60,000 training images, 4,500 of 150,000 iterations (9.3 epochs)" in lines


def test_only_the_block_is_replaced(readme_results):
    begin, end = readme_results.BEGIN, readme_results.END
    readme = f"prose before\n{begin}\nold table\n{end}\nprose after\n"
    assert (
        readme_results.replace_block(readme, f"{begin}\nnew\n{end}")
        == f"prose before\n{begin}\nnew\n{end}\nprose after\n"
    )
    with pytest.raises(ValueError, match="no"):
        readme_results.replace_block("no markers here", "x")


def test_merged_rows_replace_their_pair_whole_and_are_summarised(tmp_path, readme_results):
    from results_table import merge_rows, summarise

    def record(setting: str, seed: int, acc: float) -> dict:
        return {"dataset": "mnist", "setting": setting, "objective": "mi", "seed": seed, "acc_hungarian_test": acc}

    old = [record("joint", 0, 0.5), record("joint-consistency", 0, 0.1)]
    (tmp_path / "results.json").write_text(
        json.dumps({"meta": {"command": "x"}, "summary": summarise(old), "runs": old})
    )
    new = [record("joint-consistency", s, acc) for s, acc in ((0, 0.75), (1, 0.85))]
    (tmp_path / "rows.json").write_text(json.dumps({"meta": {"script": "made.py"}, "runs": new}))
    merged = json.loads(merge_rows(tmp_path / "results.json", tmp_path / "rows.json").read_text())
    assert [(r["setting"], r["acc_hungarian_test"]) for r in merged["runs"]] == [
        ("joint", 0.5),
        ("joint-consistency", 0.75),
        ("joint-consistency", 0.85),
    ]
    row = next(r for r in merged["summary"] if r["setting"] == "joint-consistency")
    assert row["seeds"] == 2 and row["acc_hungarian_test"]["mean"] == pytest.approx(0.8)
    assert merged["meta"] == {"command": "x", "merged": {"rows.json": {"script": "made.py"}}}
