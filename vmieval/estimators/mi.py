"""`estimate_mi`: every MI row that fits a target, from one FrozenVAE and its encoded split.

It runs the encoder side on the split as encoded (exact categorical MI, Monte-Carlo Gaussian MI,
KL upper bounds, label MI) and the decoder side (Barber-Agakov and Fano bounds from a post-hoc Q,
the model decoding codes drawn from the split), and collects the rows with the config that
produced them. It also looks for the one
situation where the paper's headline number misleads: a collapsed encoder, whose aggregate posterior
over a categorical block is far from uniform, so the log K version of the bound is not a bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from vmieval.encoded import EncodedSplit
from vmieval.errors import DataError
from vmieval.estimators.config import MIConfig
from vmieval.estimators.decoder.bound import QBoundResult
from vmieval.estimators.decoder.crossfit import crossfit_q_bound
from vmieval.estimators.decoder.plan import Progress
from vmieval.estimators.decoder.single import q_bound
from vmieval.estimators.encoder import EncoderResult, encoder_mi
from vmieval.estimators.estimate import Estimate, qualify
from vmieval.estimators.latents import weak_target_warnings
from vmieval.frozen import FrozenVAE
from vmieval.spec import ModelSpec, parse_target


@dataclass(frozen=True)
class MIResult:
    """All rows for one model and target. `warnings` are one-line strings for the user; `timings`
    are seconds per phase (encoder, generate, fit, score)."""

    config: MIConfig
    target: str
    n_images: int
    encoder: EncoderResult
    qbound: QBoundResult | None
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    def estimates(self) -> list[Estimate]:
        rows = self.encoder.estimates()
        return qualify(rows + (self.qbound.estimates() if self.qbound is not None else []))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "n_images": self.n_images,
            "config": self.config.to_dict(),
            "warnings": list(self.warnings),
            "timings": dict(self.timings),
            "aggregate_entropy": dict(self.encoder.aggregate_entropy),
        }
        if self.qbound is not None:
            out["q"] = self.qbound.to_dict()
        return out


def default_target(spec: ModelSpec, split: EncodedSplit | None = None) -> str:
    """Every categorical block (jointly); else two dims of the first Gaussian block: the two with the
    highest mean KL to the prior on `split` (`estimators.latents`), or its first two without a split.

    Why the highest-KL pair: dims a VAE leaves at the prior carry no information, so a fixed z[0:2]
    can report an MI near 0 for a model whose information sits in other dims."""
    from vmieval.estimators.latents import block_kl, dims_target, top_dims

    categorical = [b.name for b in spec.blocks_of_kind("categorical")]
    if categorical:
        return ",".join(categorical)
    first = spec.blocks_of_kind("gaussian")[0]
    if split is None or first.size <= 2:
        return f"{first.name}[0:{min(2, first.size)}]"
    return dims_target(first.name, top_dims(block_kl(split, first.name), 2))


def collapse_warnings(entropies: dict[str, float], sizes: dict[str, int], margin: float) -> list[str]:
    """A warning per categorical part whose aggregate entropy is below (1 − margin)·log K."""
    out: list[str] = []
    for label, h in entropies.items():
        log_k = math.log(sizes[label])
        if h < (1.0 - margin) * log_k:
            out.append(
                f"collapsed encoder: H(mean_x q({label}|x)) = {h:.3f} nats < log K = {log_k:.3f}; the paper's log K "
                f"bound overstates I({label}; x_hat) by up to {log_k - h:.3f} nats and is not a valid bound here"
            )
    return out


def estimate_mi(
    model: FrozenVAE,
    split: EncodedSplit,
    config: MIConfig,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
) -> MIResult:
    """Run every estimator that fits `config.target` on the encoded `split` (labels optional).

    `generator` defaults to one seeded with `config.seed`; all randomness comes from it. `progress`
    receives (phase, done, total): the encoder side, the pairs decoded, the plan of the Q fits (a phase
    whose name is the plan line, with its time estimate), each fold's epochs (a fold that stops early
    ends at the epochs it ran) and the scoring.
    """
    if split.n < 2:
        raise DataError(f"MI estimation needs at least 2 images, got {split.n}")
    generator = generator if generator is not None else torch.Generator().manual_seed(config.seed)
    spec = model.spec
    target = parse_target(config.target or default_target(spec, split), spec)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    if progress:
        progress("encoder side", 0, 1)
    encoder = encoder_mi(split, target, generator, config.chunk)
    timings["encoder"] = time.perf_counter() - t0

    warnings: list[str] = []
    sizes = {p.label(): spec.block(p.block).size for p in target.parts}
    warnings += collapse_warnings(encoder.aggregate_entropy, sizes, config.collapse_margin)
    warnings += weak_target_warnings(split, target)
    warnings += [f"I_q(x; {label}) is near its log N cap (N={split.n}); use more images" for label in encoder.near_cap]

    bound = None
    if config.q_bound:
        if config.folds > 1:
            bound = crossfit_q_bound(model, target, config, generator, split, config.folds, progress=progress)
        else:
            bound = q_bound(model, target, config, generator, split, progress)
        timings.update(bound.seconds)
        if bound.still_improving:
            warnings.append(f"Q was still improving at max_epochs={config.max_epochs}; the bound may be loose")
    return MIResult(config, target.label(), split.n, encoder, bound, tuple(warnings), timings)
