"""Cluster accuracy of a Gaussian-only model: k-means on its posterior means, labelled as such.

A model with no categorical block has no clustering of its own, so the paper's cluster accuracy does
not exist for it. What can be said is how well the class structure can be *read off* its Gaussian
code: scikit-learn `KMeans` (K = number of classes, a fixed seed, `n_init` restarts) on the
concatenated posterior means of every Gaussian block, scored with the same Hungarian / majority-vote
/ NMI / ARI functions as a categorical block (`cluster.score_assignments`). The result carries the
method label `KMEANS`, so tables and files never present it as the model's own clustering. It
depends on the geometry of the code (k-means assumes round clusters of similar size), not only on
what the code knows, and is therefore a baseline, never a bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.cluster import KMeans

from vmieval.analysis.cluster import KMEANS, ClusterResult, score_assignments
from vmieval.distributions import GaussianPosterior
from vmieval.errors import UsageError

if TYPE_CHECKING:
    from vmieval.encoded import EncodedSplit


@dataclass(frozen=True)
class KMeansConfig:
    """`n_clusters`: K (None: the number of distinct labels); `seed` and `n_init` fix scikit-learn's
    k-means++ initialisations, so the same means give the same clusters."""

    n_clusters: int | None = None
    seed: int = 0
    n_init: int = 10


def gaussian_means(posterior: dict[str, object]) -> np.ndarray:
    """The posterior means of every Gaussian block, concatenated in block order: float64 [N, D]."""
    means = [p.mean for p in posterior.values() if isinstance(p, GaussianPosterior)]
    if not means:
        raise UsageError("k-means needs a Gaussian latent block; this model has none")
    return torch.cat([m.detach().double().cpu() for m in means], dim=1).numpy()


def kmeans_assignments(features: np.ndarray, k: int, config: KMeansConfig = KMeansConfig()) -> np.ndarray:
    """Seeded k-means cluster indices [N] in [0, k) for features [N, D]."""
    if k < 1 or k > len(features):
        raise UsageError(f"k-means with K = {k} clusters needs at least {max(k, 1)} images, got {len(features)}")
    model = KMeans(n_clusters=k, n_init=config.n_init, random_state=config.seed)
    return model.fit_predict(np.asarray(features, dtype=np.float64)).astype(np.int64)


def kmeans_accuracy(
    features: np.ndarray, labels: np.ndarray, split: str, config: KMeansConfig = KMeansConfig()
) -> ClusterResult:
    """Every cluster score of k-means on features [N, D] against labels [N], method `KMEANS`."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(features),):
        raise UsageError(f"{len(features)} images but labels of shape {labels.shape}")
    k = config.n_clusters or int(len(np.unique(labels)))
    assignments = kmeans_assignments(features, k, config)
    return score_assignments(assignments, labels, k, KMEANS, split, None)


def kmeans_cluster_analysis(encoded: EncodedSplit, config: KMeansConfig = KMeansConfig()) -> ClusterResult:
    """k-means cluster accuracy of an encoded split (its Gaussian posterior means and labels); an
    unlabelled split is a UsageError the caller reports once."""
    if encoded.labels is None:
        raise UsageError("cluster accuracy needs class labels; this data has none")
    features = gaussian_means(dict(encoded.posterior.items()))
    return kmeans_accuracy(features, encoded.labels.cpu().numpy(), encoded.split, config)
