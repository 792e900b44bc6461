"""Encoder-side information: I_q(x; t) under p_data(x)·q(t|x), and its KL upper bounds.

All of it is read from the split encoded once (`EncodedSplit`); nothing here calls the encoder.

p_data is the empirical distribution of the N given images, so every value here is a property of
the encoder on this dataset (all float64):
- categorical block c: EXACT, I_q(x; c) = H(q̄) − mean_n H(q(c|x_n)) = mean_n KL(q(c|x_n) || q̄),
  with q̄ = mean_n q(c|x_n). The stderr is the delta method: the influence of image n on the
  plug-in value is KL(q(c|x_n) || q̄) − I (the derivative terms through q̄ cancel), so
  stderr = std_n KL(q(c|x_n) || q̄) / √N, the sampling error of the dataset itself.
- Gaussian dims (or a mixed target): Monte Carlo with the FULL dataset as the mixture. One code
  t_n ~ q(t|x_n) per image; I ≈ mean_n [log q(t_n|x_n) − log (1/N)Σ_m q(t_n|x_m)], a logsumexp over
  all N posteriors, chunked (memory O(N·chunk)). Each term is at most log N, so the estimate is
  capped at log N; within 1 nat of the cap it is flagged as saturated (posteriors barely overlap
  at this N: the value then says more about N than about the encoder). Stderr: std of the terms/√N.
  Above EXACT_MC_LIMIT images each mixture sum is the own term plus MC_REFERENCES uniform references
  per code (unbiased, independent per code, so the stderr holds the subsampling noise; `references`
  in the row's parameters).
  The minibatch-weighted estimator (mixture over a batch only) is never used: it is biased by
  log(N / batch) and depends on the batch size.
- KL upper bounds E_x KL(q(c|x) || p(c)) per categorical block and per Gaussian dimension (and the
  sum over a slice), from the posterior objects: I_q(x; t) ≤ E_x KL(q(t|x) || p(t)).
- with labels y: the plug-in I_q(y; c) = H(q̄) − Σ_y p(y) H(q̄_y), exact on this labelled dataset;
  by data processing (y is a function of the image) it never exceeds I_q(x; c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vmieval.distributions import CategoricalPosterior, GaussianPosterior, part_columns
from vmieval.encoded import EncodedSplit
from vmieval.estimators.aggregate import TargetPosterior, log_aggregate, log_aggregate_sampled, log_q_own
from vmieval.estimators.estimate import Estimate, Family, Kind, Quantity, mean_and_stderr
from vmieval.spec import Target, TargetPart

CAP_MARGIN = 1.0  # nats below log N from which a Monte-Carlo estimate is flagged as saturated
EXACT_MC_LIMIT = 20_000  # images up to which the Monte-Carlo mixture is summed exactly (N² densities)
MC_REFERENCES = 1024  # uniform references per code above it (O(N · M); dSprites' 737,280 images in seconds)


@dataclass(frozen=True)
class EncoderResult:
    """Encoder-side rows for one target; `aggregate_entropy` holds H(q̄) per categorical part,
    `near_cap` the targets whose Monte-Carlo estimate is within CAP_MARGIN of log N."""

    target: str
    rows: tuple[Estimate, ...]
    aggregate_entropy: dict[str, float]
    near_cap: tuple[str, ...]

    def estimates(self) -> list[Estimate]:
        return list(self.rows)


def categorical_mi(log_probs: torch.Tensor, log_bar: torch.Tensor | None = None) -> tuple[float, float]:
    """Exact I_q(x; c) from per-image log q(c|x_n) [N, K] (and log q̄ [K] when already known):
    (value, delta-method stderr)."""
    lp = log_probs.double()
    log_bar = CategoricalPosterior(lp, normalised=True).aggregate_log_probs() if log_bar is None else log_bar
    kl_to_bar = (lp.exp() * (lp - log_bar).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)).sum(1)
    return mean_and_stderr(kl_to_bar)


def label_mi(log_probs: torch.Tensor, labels: torch.Tensor, log_bar: torch.Tensor | None = None) -> tuple[float, float]:
    """Plug-in I_q(y; c) = H(q̄) − Σ_y p(y) H(q̄_y) from log q(c|x_n) [N, K] and labels [N].

    Written as mean_n Σ_k q(k|x_n)(log q̄_{y_n}(k) − log q̄(k)), whose terms are also the
    delta-method influence values, so the stderr is their std / √N.
    """
    lp = log_probs.double()
    p = lp.exp()
    log_bar = CategoricalPosterior(lp, normalised=True).aggregate_log_probs() if log_bar is None else log_bar
    classes, inverse = torch.unique(labels, return_inverse=True)
    per_class = torch.zeros(classes.shape[0], lp.shape[1], dtype=torch.float64).index_add_(0, inverse, p)
    log_class_bar = torch.log(per_class / per_class.sum(1, keepdim=True))
    diff = (log_class_bar[inverse] - log_bar).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    return mean_and_stderr((p * diff).sum(1))


def sample_codes(parts: TargetPosterior, generator: torch.Generator) -> list[torch.Tensor]:
    """One code per image from q(t|x_n): indices [N] or values [N, d]."""
    return [post.sample_code(generator) for post in parts]


def monte_carlo_mi(
    parts: TargetPosterior, generator: torch.Generator, chunk: int = 1024, references: int | None = None
) -> tuple[float, float]:
    """I_q(x; t) ≈ mean_n [log q(t_n|x_n) − log q̄(t_n)], t_n ~ q(t|x_n), full-dataset mixture: summed
    exactly (O(N²)), or with `references` M from M uniform references per code (O(N·M), `log_aggregate_sampled`)."""
    codes = sample_codes(parts, generator)
    n = codes[0].shape[0]
    if references is None:
        log_bar = log_aggregate(parts, codes, chunk)
    else:
        log_bar = log_aggregate_sampled(parts, codes, references, generator)
    return mean_and_stderr(log_q_own(parts, codes, torch.arange(n)) - log_bar)


def _row(quantity: Quantity, target: str, kind: Kind, family: Family, terms: torch.Tensor | tuple[float, float],
         n: int, split: str, **extra: object) -> Estimate:  # fmt: skip
    """An encoder-side row; `terms` are per-image values (mean ± stderr) or a (value, stderr) pair."""
    value, se = mean_and_stderr(terms) if isinstance(terms, torch.Tensor) else terms
    return Estimate(quantity, target, "encoder", kind, family, value, se, n, split, **extra)  # type: ignore[arg-type]


def _kl_rows(part: TargetPart, post: GaussianPosterior, block_size: int, n: int, split: str) -> list[Estimate]:
    """The KL upper bound of a Gaussian part (sum over its dims) and of each of its dims."""
    per_dim = post.kl_per_dim()
    prior = {"prior": "N(0,1)"}
    rows = [_row("I_q(x;t)", part.label(), "upper_bound", "kl", per_dim.sum(1), n, split, params=prior)]
    cols = part_columns(part, block_size)
    if len(cols) > 1:
        for d, i in enumerate(cols):
            rows.append(_row("I_q(x;t)", f"{part.block}[{i}:{i + 1}]", "upper_bound", "kl", per_dim[:, d], n, split,
                             params=prior))  # fmt: skip
    return rows


def encoder_mi(split: EncodedSplit, target: Target, generator: torch.Generator, chunk: int = 1024) -> EncoderResult:
    """All encoder-side rows for `target` on an encoded split (labels, when present, add I_q(y; c))."""
    parts = split.target(target)
    n, name = split.n, split.split
    cap = math.log(n)
    rows: list[Estimate] = []
    entropies: dict[str, float] = {}
    near_cap: list[str] = []

    def add_monte_carlo(label: str, posts: TargetPosterior) -> None:
        references = MC_REFERENCES if n > EXACT_MC_LIMIT else None
        value, se = monte_carlo_mi(posts, generator, chunk, references)
        params: dict[str, object] = {"mixture": n} | ({"references": references} if references else {})
        extra: dict[str, object] = {"params": params}
        if value > cap - CAP_MARGIN:
            near_cap.append(label)
            extra |= {"note": f"within {CAP_MARGIN:g} nat of the log N = {cap:.3f} cap: saturated, a lower estimate",
                      "flags": ("near_cap",)}  # fmt: skip
        rows.append(_row("I_q(x;t)", label, "estimate", "monte-carlo", (value, se), n, name, **extra))

    for part, post in zip(target.parts, parts, strict=True):
        label = part.label()
        if isinstance(post, GaussianPosterior):
            add_monte_carlo(label, [post])
            rows.extend(_kl_rows(part, post, split.spec.block(part.block).size, n, name))
            continue
        log_bar = split.aggregate_log_probs[part.block]
        entropies[label] = split.aggregate_entropy[part.block]
        rows.append(_row("I_q(x;t)", label, "exact", "exact", categorical_mi(post.log_probs, log_bar), n, name))
        # KL from the float64 log-probabilities normalised once more: the float32 encoder output
        # sums to 1 only to ~1e-7, which log K - H would otherwise carry.
        kl = CategoricalPosterior(post.log_probs).kl_to_prior()
        rows.append(
            _row("I_q(x;t)", label, "upper_bound", "kl", kl, n, name, params={"prior": f"Uniform({post.size})"})
        )
        if split.labels is not None:
            plug_in = label_mi(post.log_probs, split.labels, log_bar)
            rows.append(_row("I_q(y;t)", label, "exact", "plug-in", plug_in, n, name))
    if len(parts) > 1:
        add_monte_carlo(target.label(), parts)
    return EncoderResult(target.label(), tuple(rows), entropies, tuple(near_cap))
