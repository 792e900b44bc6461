"""The calibration suite's coverage machinery (benchmarks/calibration.py), on cases fast enough for CI.

A coverage check that could not fail would prove nothing, so both directions are tested: intervals
of the right width cover about 95% of the time (for a known estimand and for the leave-one-out
mean of reruns), intervals half as wide are caught under-covering, and one real encoder-side case
(the exact categorical I_q with its delta-method stderr) covers its closed-form population value.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


calibration = load("calibration")
cases = load("calibration_cases")


@pytest.mark.parametrize("estimand", [0.3, None])
def test_correct_intervals_cover_and_narrow_ones_are_caught(estimand: float | None) -> None:
    values = (0.3 + 0.1 * torch.randn(4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).tolist()
    honest = calibration.coverage(values, [0.1] * len(values), estimand)
    narrow = calibration.coverage(values, [0.05] * len(values), estimand)
    assert abs(honest - 0.95) < 0.015
    assert abs(narrow - 0.683) < 0.03 and narrow < calibration.TARGET_COVERAGE
    assert calibration.coverage(values, [math.nan] * len(values), estimand) == 0.0


def test_summary_flags_an_estimator_below_target() -> None:
    rows = [
        {"side": "decoder", "case": "a", "estimator": "good", "runs": 10, "coverage": 0.95},
        {"side": "decoder", "case": "b", "estimator": "good", "runs": 30, "coverage": 1.0},
        {"side": "decoder", "case": "a", "estimator": "bad", "runs": 10, "coverage": 0.7},
    ]
    by_name = {s["estimator"]: s for s in calibration.summary(rows)}
    assert by_name["good"]["coverage"] == pytest.approx(0.9875) and by_name["good"]["meets_target"]
    assert not by_name["bad"]["meets_target"] and by_name["bad"]["worst_case"] == "a"


def test_known_answers_of_the_cases() -> None:
    uniform = torch.full((10,), 0.1, dtype=torch.float64)
    assert cases.channel_mi(uniform, 10, 0.0) == pytest.approx(math.log(10))
    assert cases.channel_mi(uniform, 10, 0.9) == pytest.approx(0.0, abs=1e-12)  # output independent of input
    eps = 0.2
    assert cases.channel_mi(torch.tensor([0.5, 0.5]), 2, eps) == pytest.approx(
        math.log(2) + eps * math.log(eps) + (1 - eps) * math.log(1 - eps)
    )


def test_exact_categorical_interval_covers_the_population_value() -> None:
    case = cases.categorical_encoder_case(10, 20, 2.0, 4, 300)
    runs = calibration.run_encoder(case, seeds=60)
    (exact,) = [r for name, r in runs.items() if name.startswith("I_q(x; c): exact")]
    cover = calibration.coverage(exact["value"], exact["stderr"], exact["truth"])
    assert cover >= 0.85  # 60 runs of a 95% interval: below 0.85 has probability < 0.2%


def test_graded_channel_truth_known_answers() -> None:
    """No flips (every image clear: z's mean at 4) leaves I = H(q̄); z's mean at 0 with uniform codes
    is the plain symmetric channel."""
    _, truth = cases.graded_channel(10, 0.05)
    clear = (12.0 * torch.eye(10)).repeat(3, 1).view(-1, 1, 1, 10)
    q_bar = torch.softmax(clear.flatten(1).double(), 1).mean(0)
    assert truth(clear) == pytest.approx(cases.entropy(q_bar), abs=1e-6)
    flat = torch.full((4, 1, 1, 10), 6.0)  # largest logit 6: z's mean 0
    assert truth(flat) == pytest.approx(cases.channel_mi(torch.full((10,), 0.1), 10, 0.05), abs=1e-6)
