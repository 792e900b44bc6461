"""Cluster accuracy of a categorical latent block against class labels (paper Tables 1-2).

The encoder's categorical block is read as a clustering: each image goes to `argmax_k q(c=k|x)`.
A cluster index carries no name, so it has to be mapped to a label before "accuracy" means anything,
and the mapping changes the number:
- **Hungarian** (one-to-one): the assignment of clusters to labels that maximises the number of
  correctly labelled images, found with `scipy.optimize.linear_sum_assignment` on the [K, L]
  co-occurrence matrix. A cluster left without a label (K > L) counts as wrong.
- **Majority vote** (many-to-one, the paper's protocol): each cluster takes its most frequent label.
  Two clusters may share a label, so this is never below the Hungarian number, and K = N clusters
  would score 1. It is reported because the paper uses it; Hungarian is the honest one.
NMI and ARI (scikit-learn) need no mapping at all.

A model without a categorical block gets a baseline instead, labelled as such: k-means (K = number
of classes, fixed seed) on the concatenated posterior means of its Gaussian blocks (`kmeans.py`).
Everything is read from the split encoded once (`EncodedSplit`); nothing here runs the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmieval.distributions import CategoricalPosterior
from vmieval.encoded import EncodedSplit
from vmieval.errors import UsageError
from vmieval.spec import ModelSpec

ARGMAX = "argmax q(c|x)"
KMEANS = "k-means on posterior means (baseline)"
UNUSED_CODE_NATS = 0.05  # exact I_q(x; c) below which a code's argmax is read as noise, not clusters


@dataclass(frozen=True)
class ClusterConfig:
    """`block`: the categorical block to score (default: the first one). `kmeans_seed` and
    `kmeans_init` fix the baseline for models with no categorical block."""

    block: str | None = None
    kmeans_seed: int = 0
    kmeans_init: int = 10


@dataclass(frozen=True)
class ClusterResult:
    """Scores of one clustering of one split. Accuracies are fractions in [0, 1].

    `assignments` [N] are cluster indices in [0, n_clusters); `mapping_*` [n_clusters] give the
    label each cluster is mapped to (-1: no label under the one-to-one mapping).
    """

    method: str
    block: str | None
    split: str
    n: int
    n_clusters: int
    n_classes: int
    accuracy_hungarian: float
    accuracy_majority: float
    nmi: float
    ari: float
    assignments: np.ndarray
    mapping_hungarian: np.ndarray
    mapping_majority: np.ndarray

    @property
    def is_baseline(self) -> bool:
        return self.method == KMEANS


def contingency_counts(assignments: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The L distinct label values (sorted) and counts [L, k] of (label, category) pairs."""
    assignments = np.asarray(assignments, dtype=np.int64)
    labels = np.asarray(labels)
    if assignments.shape != labels.shape or assignments.ndim != 1:
        raise UsageError(f"assignments {assignments.shape} and labels {labels.shape} must be equal 1-d shapes")
    if assignments.size and (assignments.min() < 0 or assignments.max() >= k):
        raise UsageError(f"category indices must lie in [0, {k})")
    values, label_index = np.unique(labels, return_inverse=True)
    counts = np.zeros((len(values), k), dtype=np.int64)
    np.add.at(counts, (label_index, assignments), 1)
    return values, counts


def hungarian_accuracy(assignments: np.ndarray, labels: np.ndarray, n_clusters: int) -> tuple[float, np.ndarray]:
    """Best one-to-one cluster -> label accuracy, and the mapping [n_clusters] (-1 = unmatched)."""
    from scipy.optimize import linear_sum_assignment  # scipy.optimize and sklearn load only where clusters are scored

    values, label_counts = contingency_counts(assignments, labels, n_clusters)
    counts = label_counts.T
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    mapping[rows] = values[cols]
    return float(counts[rows, cols].sum() / max(len(labels), 1)), mapping


def majority_accuracy(assignments: np.ndarray, labels: np.ndarray, n_clusters: int) -> tuple[float, np.ndarray]:
    """Many-to-one accuracy (each cluster takes its most frequent label), and that mapping.

    An empty cluster is mapped to -1; it holds no images, so it cannot change the accuracy.
    """
    values, label_counts = contingency_counts(assignments, labels, n_clusters)
    counts = label_counts.T
    mapping = np.where(counts.sum(axis=1) > 0, values[counts.argmax(axis=1)], -1).astype(np.int64)
    return float(counts.max(axis=1).sum() / max(len(labels), 1)), mapping


def score_assignments(
    assignments: np.ndarray,
    labels: np.ndarray,
    n_clusters: int,
    method: str,
    split: str,
    block: str | None = None,
) -> ClusterResult:
    """Every score of one clustering: the numeric core shared by the model-level functions."""
    assignments = np.asarray(assignments, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    acc_h, map_h = hungarian_accuracy(assignments, labels, n_clusters)
    acc_m, map_m = majority_accuracy(assignments, labels, n_clusters)
    return ClusterResult(
        method=method,
        block=block,
        split=split,
        n=int(len(labels)),
        n_clusters=int(n_clusters),
        n_classes=int(len(np.unique(labels))),
        accuracy_hungarian=acc_h,
        accuracy_majority=acc_m,
        nmi=float(normalized_mutual_info_score(labels, assignments)),
        ari=float(adjusted_rand_score(labels, assignments)),
        assignments=assignments,
        mapping_hungarian=map_h,
        mapping_majority=map_m,
    )


def categorical_block_name(spec: ModelSpec, block: str | None) -> str | None:
    """The categorical block to analyse: `block` if given (must be categorical), else the first one."""
    if block is not None:
        if spec.block(block).kind != "categorical":
            raise UsageError(f"block {block!r} is Gaussian; cluster analysis needs a categorical block")
        return block
    found = spec.blocks_of_kind("categorical")
    return found[0].name if found else None


def cluster_analysis(split: EncodedSplit, config: ClusterConfig = ClusterConfig()) -> ClusterResult:
    """Score the model's categorical block as a clustering of the split (argmax q(c|x); deterministic).

    With no categorical block: the k-means baseline on posterior means, seeded by
    `config.kmeans_seed` (no generator: the result does not depend on what ran before it).
    """
    if split.labels is None:
        raise UsageError("cluster accuracy needs class labels; this data has none")
    name = categorical_block_name(split.spec, config.block)
    if name is None:
        from vmieval.analysis.kmeans import KMeansConfig, kmeans_cluster_analysis  # sklearn.cluster: only here

        return kmeans_cluster_analysis(split, KMeansConfig(seed=config.kmeans_seed, n_init=config.kmeans_init))
    post = split.posterior[name]
    assert isinstance(post, CategoricalPosterior)
    assignments = post.logits.argmax(dim=1).numpy()
    return score_assignments(assignments, split.labels.numpy(), post.size, ARGMAX, split.split, name)


def unused_code_note(split: EncodedSplit, result: ClusterResult) -> str | None:
    """A warning when the scored categorical code carries almost no information about x.

    Why: an ELBO model that ignores c still has an argmax. Its logits differ from image to image by
    tiny biases, which can line up with the labels well above chance (about 0.2 on MNIST, where
    sampling c from q(c|x) scores 0.1); without this note that reads as a weak clustering. The
    information is the exact I_q(x; c) = H(mean_x q(c|x)) - mean_x H(q(c|x)) of the encoded split.
    """
    if result.method != ARGMAX or result.block is None:
        return None
    post = split.block(result.block)
    assert isinstance(post, CategoricalPosterior)
    information = split.aggregate_entropy[result.block] - float(post.entropy().double().mean())
    if information >= UNUSED_CODE_NATS:
        return None
    return (
        f"{result.block} carries {information:.3f} nats about x (exact I_q(x; {result.block})): its argmax "
        "follows tiny logit biases of an unused code, so these cluster scores do not describe a clustering"
    )
