"""Encoder-side information: I_q(x; t) under p_data(x)·q(t|x), and its KL upper bounds.

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
  The minibatch-weighted estimator (mixture over a batch only) is never used: it is biased by
  log(N / batch) and depends on the batch size.
- KL upper bounds E_x KL(q(c|x) || p(c)) per categorical block and per Gaussian dimension (and the
  sum over a slice), from vmieval.distributions: I_q(x; t) ≤ E_x KL(q(t|x) || p(t)).
- with labels y: the plug-in I_q(y; c) = H(q̄) − Σ_y p(y) H(q̄_y), exact on this labelled dataset;
  by data processing (y is a function of the image) it never exceeds I_q(x; c).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vmieval.distributions import (
    CategoricalPosterior,
    GaussianPosterior,
    categorical_entropy,
    kl_categorical_uniform,
    kl_gaussian_per_dim,
)
from vmieval.estimators.aggregate import (
    TargetPosterior,
    aggregate_log_probs,
    log_aggregate,
    log_q_own,
)
from vmieval.estimators.estimate import Estimate, mean_and_stderr
from vmieval.spec import Target, TargetPart

CAP_MARGIN = 1.0  # nats below log N from which a Monte-Carlo estimate is flagged as saturated


@dataclass(frozen=True)
class EncoderResult:
    """Encoder-side rows for one target; `aggregate_entropy` holds H(q̄) per categorical part,
    `near_cap` the labels whose Monte-Carlo estimate is within CAP_MARGIN of log N."""

    target: str
    rows: tuple[Estimate, ...]
    aggregate_entropy: dict[str, float]
    near_cap: tuple[str, ...]

    def estimates(self) -> list[Estimate]:
        return list(self.rows)


def categorical_mi(log_probs: torch.Tensor) -> tuple[float, float, float]:
    """Exact I_q(x; c) from per-image log q(c|x_n) [N, K]: (value, delta-method stderr, H(q̄))."""
    lp = log_probs.double()
    log_bar = aggregate_log_probs(lp)
    kl_to_bar = (lp.exp() * (lp - log_bar).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)).sum(1)
    value, se = mean_and_stderr(kl_to_bar)
    return value, se, float(categorical_entropy(log_bar))


def label_mi(log_probs: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Plug-in I_q(y; c) = H(q̄) − Σ_y p(y) H(q̄_y) from log q(c|x_n) [N, K] and labels [N].

    Written as mean_n Σ_k q(k|x_n)(log q̄_{y_n}(k) − log q̄(k)), whose terms are also the
    delta-method influence values, so the stderr is their std / √N.
    """
    lp = log_probs.double()
    p = lp.exp()
    log_bar = aggregate_log_probs(lp)
    classes, inverse = torch.unique(labels, return_inverse=True)
    per_class = torch.zeros(classes.shape[0], lp.shape[1], dtype=torch.float64).index_add_(0, inverse, p)
    log_class_bar = torch.log(per_class / per_class.sum(1, keepdim=True))
    diff = (log_class_bar[inverse] - log_bar).nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)
    return mean_and_stderr((p * diff).sum(1))


def sample_codes(parts: TargetPosterior, generator: torch.Generator) -> list[torch.Tensor]:
    """One code per image from q(t|x_n): indices [N] or values [N, d]."""
    codes: list[torch.Tensor] = []
    for post in parts:
        if isinstance(post, CategoricalPosterior):
            codes.append(torch.multinomial(post.logits.exp(), 1, generator=generator).squeeze(1))
        else:
            eps = torch.randn(post.mean.shape, generator=generator, dtype=torch.float64)
            codes.append(post.mean + torch.exp(0.5 * post.logvar) * eps)
    return codes


def monte_carlo_mi(parts: TargetPosterior, generator: torch.Generator, chunk: int = 1024) -> tuple[float, float]:
    """I_q(x; t) ≈ mean_n [log q(t_n|x_n) − log q̄(t_n)], t_n ~ q(t|x_n), full-dataset mixture."""
    codes = sample_codes(parts, generator)
    n = codes[0].shape[0]
    terms = log_q_own(parts, codes, torch.arange(n)) - log_aggregate(parts, codes, chunk)
    return mean_and_stderr(terms)


def _row(quantity: str, target: str, kind: str, estimator: str, terms: torch.Tensor | tuple[float, float], n: int,
         split: str, note: str = "") -> Estimate:  # fmt: skip
    """An encoder-side row; `terms` are per-image values (mean ± stderr) or a (value, stderr) pair."""
    value, se = mean_and_stderr(terms) if isinstance(terms, torch.Tensor) else terms
    return Estimate(quantity, target, "encoder", kind, estimator, value, se, n, split, note=note)  # type: ignore[arg-type]


def _part_rows(
    part: TargetPart, post: CategoricalPosterior | GaussianPosterior, n: int, split: str
) -> tuple[list[Estimate], float | None]:
    """KL upper bound(s) of one part, and for a categorical part the exact MI (returns H(q̄))."""
    label = part.label()
    quantity = f"I_q(x; {label})"
    if isinstance(post, CategoricalPosterior):
        value, se, h_bar = categorical_mi(post.logits)
        exact = "exact: H(mean_x q(c|x)) - mean_x H(q(c|x)); stderr: delta method"
        kl = f"E_x KL(q(c|x) || Uniform({post.logits.shape[1]}))"
        return [
            _row(quantity, label, "exact", exact, (value, se), n, split),
            _row(quantity, label, "upper_bound", kl, kl_categorical_uniform(post), n, split),
        ], h_bar
    per_dim = kl_gaussian_per_dim(post)
    offset = part.start or 0
    rows = [_row(quantity, label, "upper_bound", "sum_d E_x KL(q(z_d|x) || N(0,1))", per_dim.sum(1), n, split)]
    for d in range(per_dim.shape[1]):
        i = offset + d
        rows.append(_row(f"I_q(x; {part.block}[{i}])", f"{part.block}[{i}:{i + 1}]", "upper_bound",
                         "E_x KL(q(z_d|x) || N(0,1))", per_dim[:, d], n, split))  # fmt: skip
    return rows, None


def encoder_mi(
    parts: TargetPosterior,
    target: Target,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    split: str = "test",
    chunk: int = 1024,
) -> EncoderResult:
    """All encoder-side rows for `target`, from its dataset posterior `parts` (see `target_posterior`)."""
    n = parts[0].logits.shape[0] if isinstance(parts[0], CategoricalPosterior) else parts[0].mean.shape[0]
    cap = math.log(n)
    rows: list[Estimate] = []
    entropies: dict[str, float] = {}
    near_cap: list[str] = []

    def add_monte_carlo(label: str, posts: TargetPosterior) -> None:
        value, se = monte_carlo_mi(posts, generator, chunk)
        note = ""
        if value > cap - CAP_MARGIN:
            near_cap.append(label)
            note = f"within {CAP_MARGIN:g} nat of the log N = {cap:.3f} cap: saturated, a lower estimate"
        estimator = f"Monte Carlo: full-dataset mixture (N={n}, one code per image), capped at log N"
        rows.append(_row(f"I_q(x; {label})", label, "estimate", estimator, (value, se), n, split, note))

    for part, post in zip(target.parts, parts, strict=True):
        if isinstance(post, GaussianPosterior):
            add_monte_carlo(part.label(), [post])
        part_rows, h_bar = _part_rows(part, post, n, split)
        rows.extend(part_rows)
        if h_bar is None:
            continue
        entropies[part.label()] = h_bar
        if labels is not None:
            plug_in = "plug-in: H(mean q) - sum_y p(y) H(mean_{x|y} q), dataset labels; stderr: delta method"
            rows.append(_row(f"I_q(y; {part.label()})", part.label(), "exact", plug_in,
                             label_mi(post.logits, labels), n, split))  # fmt: skip
    if len(parts) > 1:
        add_monte_carlo(target.label(), parts)
    return EncoderResult(target.label(), tuple(rows), entropies, tuple(near_cap))
