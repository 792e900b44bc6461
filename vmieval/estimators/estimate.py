"""`Estimate`: one reported number, identified by data, with everything a reviewer needs to trust it.

Both MIs of the method (decoder-side I(t; x_hat), encoder-side I_q(x; t)) and their bounds are rows
of this one type, so tables, JSON and HDF5 never lose the estimator, the split, the sample size or
the error bar of a value. A row's identity is structured: what is estimated (`quantity`, `target`,
`side`), the direction (`kind`), how (`family`, `entropy`, `params`). Its `key` (stable across
models and runs: the comparison matches rows by it), its table `label` and its `estimator` text are
rendered from those fields and never parsed back.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

Quantity = Literal["I(t;x_hat)", "I_q(x;t)", "I_q(y;t)"]
Side = Literal["decoder", "encoder"]
Kind = Literal["lower_bound", "upper_bound", "exact", "estimate"]
Family = Literal["barber-agakov", "fano", "infonce", "nwj", "interpolated", "exact", "kl", "monte-carlo", "plug-in"]
# The H(t) a decoder-side bound uses: the exact aggregate posterior entropy H(q̄), its Monte-Carlo
# estimate, the prior's entropy (prior codes), or the paper's log K whatever the codes were.
Entropy = Literal["", "aggregate", "aggregate-mc", "prior", "paper"]
Param = str | int | float

ESTIMAND = {"I(t;x_hat)": "I({}; x_hat)", "I_q(x;t)": "I_q(x; {})", "I_q(y;t)": "I_q(y; {})"}
KIND_SYMBOL = {"lower_bound": ">=", "upper_bound": "<=", "exact": "=", "estimate": "~"}
FAMILY_TEXT = {
    "barber-agakov": "Barber-Agakov",
    "fano": "Fano",
    "infonce": "InfoNCE",
    "nwj": "NWJ",
    "interpolated": "interpolated InfoNCE/NWJ",
    "exact": "exact",
    "kl": "E_x KL(q||p)",
    "monte-carlo": "Monte Carlo",
    "plug-in": "plug-in",
}
ENTROPY_TEXT = {
    "": "",
    "aggregate": "H = exact H(mean_x q)",
    "aggregate-mc": "H = Monte-Carlo H(mean_x q)",
    "prior": "H = prior entropy",
    "paper": "H = prior entropy (paper)",
}
FAMILY_METHOD = {
    "barber-agakov": "H(t) + mean log Q(t|x_hat) on held-out pairs",
    "fano": "H(c) - h(P_e) - P_e log(K-1), P_e from Q's held-out error; stderr: delta method",
    "infonce": "critic log Q(t|x_hat) against the codes of a batch of N held-out pairs, capped at log N",
    "nwj": "critic log Q(t|x_hat) + 1 - log a, constant a fitted on validation pairs (Poole et al. 2019)",
    "interpolated": "alpha-interpolated InfoNCE/NWJ (Poole et al.), critic log Q(t|x_hat), at most 1 + log(N/alpha)",
    "exact": "H(mean_x q(c|x)) - mean_x H(q(c|x)); stderr: delta method",
    "kl": "E_x KL(q(t|x) || p(t)), closed form",
    "monte-carlo": "full-dataset mixture, one code per image, capped at log N",
    "plug-in": "H(mean q) - sum_y p(y) H(mean_{x|y} q), dataset labels; stderr: delta method",
}


@dataclass(frozen=True)
class Estimate:
    """A value in nats with its structured identity (see the module docstring).

    `params` are the estimator's settings that qualify the number (Q's architecture, the codes, Q's
    held-out accuracy, the prior a KL is taken to, the mixture size); `valid` is False for a number
    reported only for comparison with the literature (the paper's log K bound under a non-uniform
    aggregate); `flags` are machine-readable warnings (e.g. `near_cap`, `q_still_improving`, `few_terms`).
    """

    quantity: Quantity
    target: str
    side: Side
    kind: Kind
    family: Family
    value: float
    stderr: float
    n: int
    split: str
    entropy: Entropy = ""
    params: dict[str, Param] = field(default_factory=dict)
    valid: bool = True
    note: str = ""
    flags: tuple[str, ...] = ()

    @property
    def estimand(self) -> str:
        """The quantity with the target filled in, e.g. `I(c; x_hat)`."""
        return ESTIMAND[self.quantity].format(self.target)

    @property
    def key(self) -> str:
        """Identity of the row across models and runs: what is estimated and how (not the values)."""
        return "/".join((self.quantity, self.target, self.kind, self.family, self.entropy or "-"))

    @property
    def label(self) -> str:
        """A short table label: estimand, direction, family, H choice and a bound's cap (InfoNCE: log N)."""
        text = f"{self.estimand} {KIND_SYMBOL[self.kind]} {FAMILY_TEXT[self.family]}"
        text += f", {ENTROPY_TEXT[self.entropy]}" if self.entropy else ""
        text += f", capped at {self.params['cap']:.2f}" if isinstance(self.params.get("cap"), float) else ""
        return text + ("" if self.valid else " (not a valid bound)")

    @property
    def estimator(self) -> str:
        """How the number was computed, in words, with its parameters."""
        head = FAMILY_TEXT[self.family] + (f" ({ENTROPY_TEXT[self.entropy]})" if self.entropy else "")
        params = ", ".join(f"{k}={_param_text(v)}" for k, v in self.params.items())
        return f"{head}: {FAMILY_METHOD[self.family]}" + (f"; {params}" if params else "")

    def with_flags(self, *flags: str, note: str = "") -> Estimate:
        """The same row with more flags (and a note appended): how `qualify` marks a row without changing it."""
        joined = "; ".join(t for t in (self.note, note) if t)
        return replace(self, flags=tuple(dict.fromkeys(self.flags + flags)), note=joined)

    def to_dict(self) -> dict[str, Any]:
        """Every field plus the rendered `key`, `label` and `estimator` (the JSON and HDF5 columns)."""
        return {
            "key": self.key,
            "quantity": self.quantity,
            "estimand": self.estimand,
            "target": self.target,
            "side": self.side,
            "kind": self.kind,
            "family": self.family,
            "entropy": self.entropy,
            "params": json.dumps(self.params, sort_keys=True),
            "label": self.label,
            "estimator": self.estimator,
            "value": self.value,
            "stderr": self.stderr,
            "n": self.n,
            "split": self.split,
            "valid": self.valid,
            "note": self.note,
            "flags": ",".join(self.flags),
        }


CRITIC_FAMILIES = ("infonce", "nwj", "interpolated")
NEGATIVE_NOTE = (
    "negative: the critic log Q scores held-out pairs below chance, so this bound says only I >= 0; "
    "read the Barber-Agakov row"
)
ABOVE_KL_NOTE = (
    "above the encoder-side E_x KL bound: x_hat is decoded from the sampled code, so I({t}; x_hat) also counts "
    "the sampling noise of q({t}|x) that the decoder passes on; E_x KL bounds I_q(x; {t}), not I({t}; x_hat)"
)


def qualify(rows: list[Estimate]) -> list[Estimate]:
    """`rows` with the notes a reader needs: a negative critic bound (InfoNCE, NWJ, interpolated) is
    flagged `negative`; a valid decoder-side bound above the encoder's KL bound on the same target is
    flagged `above_kl` with the one sentence that explains it. Values are never changed."""
    kl = {e.target: e.value for e in rows if e.side == "encoder" and e.family == "kl"}
    out: list[Estimate] = []
    for e in rows:
        if e.side == "decoder" and e.family in CRITIC_FAMILIES and e.value < 0:
            e = e.with_flags("negative", note=NEGATIVE_NOTE)
        bound = _kl_bound(kl, e.target)
        if e.side == "decoder" and e.valid and bound is not None and e.value > bound:
            e = e.with_flags("above_kl", note=ABOVE_KL_NOTE.format(t=e.target))
        out.append(e)
    return out


def _kl_bound(kl: dict[str, float], target: str) -> float | None:
    """E_x KL of a target: its own KL row, else the sum over its parts' rows (a target lists its parts
    separated by commas; each part's KL row is keyed by that part), None if a part has none."""
    if target in kl:
        return kl[target]
    parts = target.split(",")
    return sum(kl[p] for p in parts) if all(p in kl for p in parts) else None


def _param_text(value: Param) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    """Mean of per-sample terms [N] and its standard error std(ddof=1)/√N (NaN when N < 2), float64."""
    v = values.detach().double().cpu().numpy()
    if v.size == 0:
        return math.nan, math.nan
    return float(v.mean()), float(np.std(v, ddof=1) / v.size**0.5) if v.size > 1 else math.nan
