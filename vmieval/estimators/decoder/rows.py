"""The decoder-side rows built from held-out scores, shared by `q_bound` (one split) and the cross-fit.

Rows, in order: Barber-Agakov with the H(t) of the codes' real marginal; the paper's log K version
(posterior codes only, valid=False); Fano per categorical part. Each path passes its own interval:
per-pair stderr for one split, `intervals.crossfit_interval` for the cross-fit (docs/estimators.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vmieval.encoded import EncodedSplit
from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.bound import PAPER_NOTE, STILL_IMPROVING, fano_parts
from vmieval.estimators.decoder.qnet import QPart
from vmieval.estimators.estimate import Entropy, Estimate
from vmieval.spec import Target

Params = dict[str, str | int | float]
# Barber-Agakov terms [S] -> (value, stderr, extra kept beside the row)
BAInterval = Callable[[torch.Tensor], tuple[float, float, Any]]
# (part index, H(c), hits [S], K, held-out accuracy) -> (value, stderr, extra)
FanoInterval = Callable[[int, float, torch.Tensor, int, float], tuple[float, float, Any]]


@dataclass(frozen=True)
class Scores:
    """Held-out scores: log Q(t | x_hat) [S] (float64), per categorical part a bool [S] (argmax right),
    the H(t) term per pair [S] and which H it is, and the prior's entropy (the paper's H)."""

    log_q: torch.Tensor
    hits: list[torch.Tensor]
    h_terms: torch.Tensor
    choice: Entropy
    paper_h: float


@dataclass(frozen=True)
class RowMaker:
    """What every decoder-side row of one estimate shares: label, config, params, flags, note and n."""

    label: str
    config: MIConfig
    params: Params
    still_improving: bool
    n: int

    @property
    def flags(self) -> tuple[str, ...]:
        return (STILL_IMPROVING,) if self.still_improving else ()

    @property
    def note(self) -> str:
        if not self.still_improving:
            return ""
        return f"Q was still improving at max_epochs={self.config.max_epochs}; the bound may be loose"

    def row(self, part: str, value: float, stderr: float, **kw: Any) -> Estimate:
        fields = {"params": self.params, "flags": self.flags, "note": self.note, "n": self.n, **kw}
        return Estimate("I(t;x_hat)", part, "decoder", "lower_bound", value=value, stderr=stderr,
                        split=self.config.split, **fields)  # fmt: skip


def q_params(config: MIConfig, choice: Entropy, split: EncodedSplit | None, **extra: str | int | float) -> Params:
    """The parameters every decoder-side row carries (the cost policy that fitted Q among them)."""
    params: Params = {"q": config.q_arch, "codes": config.codes, **extra}
    if choice == "aggregate-mc" and split is not None:
        params["mixture"] = split.n
    return params


def q_rows(
    make: RowMaker,
    scores: Scores,
    parts: tuple[QPart, ...],
    target: Target,
    split: EncodedSplit | None,
    ba: BAInterval,
    fano: FanoInterval,
) -> tuple[list[Estimate], list[Any], dict[str, float]]:
    """(rows, each row's extra from its interval, held-out accuracy per categorical part).

    `split` is the encoded dataset under posterior codes (None under prior codes)."""
    rows: list[Estimate] = []
    extras: list[Any] = []

    def add(part: str, value: float, stderr: float, extra: Any, **kw: Any) -> None:
        rows.append(make.row(part, value, stderr, **kw))
        extras.append(extra)

    add(make.label, *ba(scores.h_terms + scores.log_q), family="barber-agakov", entropy=scores.choice)
    if split is not None:
        note = "; ".join(t for t in (PAPER_NOTE, make.note) if t)
        paper = ba(scores.paper_h + scores.log_q)
        add(make.label, *paper, family="barber-agakov", entropy="paper", valid=False, note=note)
    accuracy: dict[str, float] = {}
    for j, qpart, tpart, h_c in fano_parts(parts, target, split):
        accuracy[qpart.name] = float(scores.hits[j].double().mean())
        value = fano(j, h_c, scores.hits[j], qpart.size, accuracy[qpart.name])
        add(tpart.label(), *value, family="fano", entropy="prior" if split is None else "aggregate",
            params=make.params | {"accuracy": accuracy[qpart.name]})  # fmt: skip
    return rows, extras, accuracy
