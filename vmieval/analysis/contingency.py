"""What a categorical block does with the classes: contingency table and probability histograms.

- Contingency (paper Figs 9/10): counts [L, K] of images with label l whose most probable category
  is k. A block that learned the classes has one dominant cell per row; a collapsed block puts
  every image in one column.
- Probability histograms (paper Fig 6): for each category k, the histogram over the dataset of
  q(c=k|x) on fixed bins over [0, 1]. A confident encoder piles mass at 0 and 1; an encoder that
  ignores c (the failure VMI-VAE fixes) piles it at 1/K.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vmieval.analysis.cluster import categorical_block_name, contingency_counts
from vmieval.data import ImageData
from vmieval.distributions import CategoricalPosterior
from vmieval.errors import UsageError
from vmieval.frozen import FrozenVAE


@dataclass(frozen=True)
class CategoricalConfig:
    """`block`: the categorical block (default: the first); `bins`: histogram bins over [0, 1]."""

    block: str | None = None
    bins: int = 20
    batch_size: int = 1000


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
    contingency: Contingency
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
    model: FrozenVAE,
    data: ImageData,
    generator: torch.Generator | None = None,
    config: CategoricalConfig = CategoricalConfig(),
) -> CategoricalSummary | None:
    """Contingency table and probability histograms of q(c|x) over `data`; None when the model
    has no categorical block. Deterministic (argmax and exact probabilities)."""
    del generator
    name = categorical_block_name(model, config.block)
    if name is None:
        return None
    post = model.encode_all(data.images, batch_size=config.batch_size)[name]
    assert isinstance(post, CategoricalPosterior)
    log_probs = post.log_probs
    k = int(log_probs.shape[1])
    values, counts = contingency_counts(log_probs.argmax(dim=1).numpy(), data.labels.numpy(), k)
    edges, hist = probability_histograms(log_probs.exp().numpy(), config.bins)
    return CategoricalSummary(
        Contingency(name, data.split, values.astype(np.int64), counts),
        ProbabilityHistograms(name, data.split, edges, hist),
    )
