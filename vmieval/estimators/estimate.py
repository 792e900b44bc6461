"""`Estimate`: one reported number with everything a reviewer needs to trust it.

Both MIs of the method (decoder-side I(c; x_hat), encoder-side I_q(x; c)) and their bounds are
reported as rows of this one type, so tables, JSON and HDF5 never lose the estimator, the split,
the sample size or the error bar of a value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from scipy.stats import sem

Side = Literal["decoder", "encoder"]
Kind = Literal["lower_bound", "upper_bound", "exact", "estimate"]


@dataclass(frozen=True)
class Estimate:
    """A value in nats. `quantity` is the estimand (e.g. `I(c; x_hat)`), `estimator` how it was
    computed (e.g. `barber-agakov, H=aggregate`); `valid` is False for a number reported only for
    comparison with the literature (the paper's log K bound under a non-uniform aggregate)."""

    quantity: str
    target: str
    side: Side
    kind: Kind
    estimator: str
    value: float
    stderr: float
    n: int
    split: str
    valid: bool = True
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    """Mean of per-sample terms [N] and its standard error (NaN when N < 2), in float64."""
    v = values.detach().double().cpu().numpy()
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(sem(v)) if v.size > 1 else float("nan")
