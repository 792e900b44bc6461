"""What a categorical block does with the classes: contingency table and probability histograms.

- Contingency (paper Figs 9/10): counts [L, K] of images with label l whose most probable category
  is k. A block that learned the classes has one dominant cell per row; a collapsed block puts
  every image in one column.
- Probability histograms (paper Fig 6): for each category k, the histogram over the dataset of
  q(c=k|x) on fixed bins over [0, 1]. A confident encoder piles mass at 0 and 1; an encoder that
  ignores c (the failure VMI-VAE fixes) piles it at 1/K.
Both are read from the split encoded once; an unlabelled split has histograms but no contingency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmieval.analysis.cluster import categorical_block_name, contingency_counts
from vmieval.distributions import CategoricalPosterior
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError


@dataclass(frozen=True)
class CategoricalConfig:
    """`block`: the categorical block (default: the first); `bins`: histogram bins over [0, 1]."""

    block: str | None = None
    bins: int = 20


@dataclass(frozen=True)
class Contingency:
    """`counts` [L, K]: images of label `labels[l]` assigned (argmax) to category k; sums to N."""

    block: str
    split: str
    labels: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class ProbabilityHistograms:
    """`counts` [K, bins]: for category k, how many images have q(c=k|x) in each bin of `edges`
    [bins + 1] (the last bin is closed, so q = 1 is counted); each row sums to N."""

    block: str
    split: str
    edges: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class CategoricalSummary:
    """`contingency` is None for a split without labels."""

    contingency: Contingency | None
    histograms: ProbabilityHistograms


def probability_histograms(probs: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges [bins + 1] over [0, 1] and counts [K, bins] of each column of `probs` [N, K]."""
    if bins < 1:
        raise UsageError(f"histograms need at least one bin, got {bins}")
    probs = np.asarray(probs, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Rounding can push a probability a hair outside [0, 1]; clip so every image is counted.
    clipped = np.clip(probs, 0.0, 1.0)
    counts = np.stack([np.histogram(clipped[:, k], bins=edges)[0] for k in range(probs.shape[1])])
    return edges, counts.astype(np.int64)


def categorical_summary(
    split: EncodedSplit, config: CategoricalConfig = CategoricalConfig()
) -> CategoricalSummary | None:
    """Contingency table and probability histograms of q(c|x) over the split; None when the model
    has no categorical block. Deterministic (argmax and exact probabilities)."""
    name = categorical_block_name(split.spec, config.block)
    if name is None:
        return None
    post = split.posterior[name]
    assert isinstance(post, CategoricalPosterior)
    edges, hist = probability_histograms(post.log_probs.exp().numpy(), config.bins)
    contingency = None
    if split.labels is not None:
        values, counts = contingency_counts(post.logits.argmax(dim=1).numpy(), split.labels.numpy(), post.size)
        contingency = Contingency(name, split.split, values.astype(np.int64), counts)
    return CategoricalSummary(contingency, ProbabilityHistograms(name, split.split, edges, hist))
