"""`MIConfig`: every setting of an MI estimate, stored beside its results so a number can be rerun.

The defaults are the one Q-fitting policy of both `vmieval mi-bound` and `vmieval report`: 10,000
generated pairs cross-fitted over 5 folds (a fold's rest split 7:1 into Q's fit and validation (early
stopping) sets), a 256-wide MLP Q, fitted until `patience` = 3 epochs pass without a better validation
log-likelihood, under a generous cap of `max_epochs` (a Q still improving at the cap is flagged).
Sized for a 10,000-image MNIST split on a small CPU: against 20,000 pairs and patience 4 it halves the
fixture's `mi-bound` CPU (benchmarks/README.md, "Choosing the default cost"); the intervals stay calibrated
but widen (1.2-1.3x on the fixture, about 2.5x on JointVAE's MNIST checkpoint, where `samples=20_000` buys
them back at twice the Q cost); 3 folds would put Q's fitting noise on 2 dof and double the interval.
A smaller or shorter-trained Q gives a looser (still valid) lower bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from vmieval.choices import SPLITS
from vmieval.errors import UsageError

PLAN_PREFIX = "Q plan: "  # starts the one-line plan of the Q fits; progress displays show it as a line of its own
Codes = Literal["posterior", "prior"]
Precision = Literal["auto", "bf16", "fp32"]
Front = Literal["auto", "full"]


@dataclass(frozen=True)
class MIConfig:
    """Settings of `estimate_mi`.

    target: `c`, `z[0:2]`, `c,z[0:2]` (None: every categorical block, else the first two dims of the
        first Gaussian block). codes: where decoder-side codes come from. samples: generated
        (code, x_hat) pairs. split: the data split the images came from (recorded in every row).
        fractions: fit / validation / held-out shares of the pairs. folds: the decoder-side bounds are
        cross-fitted over this many folds (a fresh Q per fold, every pair scored once; the stderr
        then includes Q's fitting noise, see `decoder/intervals.py`); 1 fits one Q on the `fractions` split,
        whose per-pair stderr ignores that noise. collapse_margin: the encoder is flagged as
        collapsed when H(mean_x q(c|x)) < (1 - collapse_margin) * log K. precision: Q's arithmetic
        (auto: bf16 where the device has it natively); q_front: auto pools images larger than 32 px a side
        to at most 32 in front of Q, full feeds every pixel (see `decoder/policy.py`).
    """

    target: str | None = None
    codes: Codes = "posterior"
    samples: int = 10_000
    q_arch: Literal["mlp", "conv"] = "mlp"
    q_hidden: int = 256
    max_epochs: int = 100
    patience: int = 3
    batch_size: int = 512
    lr: float = 2e-3
    seed: int = 0
    split: str = "test"
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    folds: int = 5
    q_bound: bool = True
    precision: Precision = "auto"
    q_front: Front = "auto"
    collapse_margin: float = 0.1
    chunk: int = 1024

    def __post_init__(self) -> None:
        if self.codes not in ("posterior", "prior"):
            raise UsageError(f"codes must be 'posterior' or 'prior', got {self.codes!r}")
        if self.q_arch not in ("mlp", "conv"):
            raise UsageError(f"Q architecture must be 'mlp' or 'conv', got {self.q_arch!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise UsageError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")
        if self.q_front not in ("auto", "full"):
            raise UsageError(f"Q front end must be 'auto' or 'full', got {self.q_front!r}")
        if self.split not in SPLITS:
            raise UsageError(f"unknown split {self.split!r}; choose one of {', '.join(SPLITS)}")
        for name in ("samples", "q_hidden", "max_epochs", "patience", "batch_size", "chunk", "folds"):
            if int(getattr(self, name)) < 1:
                raise UsageError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.samples < 20:
            raise UsageError(f"samples must be at least 20 to leave held-out pairs, got {self.samples}")
        if not self.lr > 0:
            raise UsageError(f"learning rate must be positive, got {self.lr}")
        if len(self.fractions) != 3 or any(f <= 0 for f in self.fractions) or abs(sum(self.fractions) - 1) > 1e-6:
            raise UsageError(
                f"fractions (fit, validation, held-out) must be positive and sum to 1, got {self.fractions}"
            )
        if not 0 <= self.collapse_margin < 1:
            raise UsageError(f"collapse_margin must lie in [0, 1), got {self.collapse_margin}")

    def split_sizes(self) -> tuple[int, int, int]:
        """Numbers of fit, validation and held-out pairs (each at least 1)."""
        n_val = max(1, round(self.samples * self.fractions[1]))
        n_test = max(1, round(self.samples * self.fractions[2]))
        return self.samples - n_val - n_test, n_val, n_test

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fractions"] = list(self.fractions)
        return d
