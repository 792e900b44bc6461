"""Cluster scores, contingency tables and probability histograms: known answers.

The model-level tests use a hand-built FrozenVAE whose encoder reads the label back from a pixel,
so the right answer (perfect clustering, diagonal contingency) is known without training.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vmieval.analysis.cluster import (
    KMEANS,
    ClusterConfig,
    cluster_analysis,
    hungarian_accuracy,
    majority_accuracy,
    score_assignments,
    unused_code_note,
)
from vmieval.analysis.contingency import (
    CategoricalConfig,
    categorical_summary,
    contingency_counts,
    probability_histograms,
)
from vmieval.data import ImageData
from vmieval.encoded import encode_split
from vmieval.errors import UsageError
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian

LABELS = np.repeat(np.arange(10), [5, 7, 3, 9, 4, 6, 8, 2, 5, 11])  # unequal class sizes


def label_model(spec: ModelSpec, permutation: list[int] | None = None, confidence: float = 20.0) -> FrozenVAE:
    """An encoder that reads label y from pixel (0, 0) (= y / 10): category `permutation[y]` with
    logits `confidence`, Gaussian means at 5·one-hot(y) (well-separated clusters)."""
    perm = torch.tensor(permutation if permutation is not None else list(range(10)))

    def encode(x: torch.Tensor) -> torch.Tensor:
        y = (x[:, 0, 0, 0] * 10).round().long()
        pieces = []
        for block in spec.blocks:
            if block.kind == "categorical":
                pieces.append(confidence * F.one_hot(perm[y], block.size).float())
            else:
                mean = 5.0 * F.one_hot(y, 10).float()[:, : block.size]
                pieces += [mean, torch.zeros_like(mean)]
        return torch.cat(pieces, dim=1)

    def decode(latent: torch.Tensor) -> torch.Tensor:
        return torch.zeros(latent.shape[0], *spec.observation_shape)

    return FrozenVAE(spec, encode, decode, CheckpointInfo("memory", "test", "0" * 64, "label-reader"))


def label_data(labels: np.ndarray = LABELS) -> ImageData:
    images = torch.zeros(len(labels), 1, 28, 28)
    images[:, 0, 0, 0] = torch.from_numpy(labels).float() / 10
    return ImageData(images, torch.from_numpy(labels).long(), "synthetic", "test", "memory")


def test_perfect_clustering_scores_one() -> None:
    r = score_assignments(LABELS, LABELS, 10, "argmax", "test")
    assert r.accuracy_hungarian == r.accuracy_majority == 1.0
    assert r.nmi == pytest.approx(1.0) and r.ari == pytest.approx(1.0)


def test_permuted_clustering_is_perfect_under_hungarian() -> None:
    perm = np.array([3, 7, 0, 9, 1, 4, 8, 2, 6, 5])
    r = score_assignments(perm[LABELS], LABELS, 10, "argmax", "test")
    assert r.accuracy_hungarian == 1.0
    assert r.nmi == pytest.approx(1.0)
    np.testing.assert_array_equal(r.mapping_hungarian[perm], np.arange(10))  # cluster perm[y] -> label y


def test_constant_clustering_scores_the_largest_class_share() -> None:
    r = score_assignments(np.zeros_like(LABELS), LABELS, 10, "argmax", "test")
    largest = np.bincount(LABELS).max() / len(LABELS)
    assert r.accuracy_hungarian == pytest.approx(largest)
    assert r.accuracy_majority == pytest.approx(largest)
    assert r.nmi == pytest.approx(0.0) and r.ari == pytest.approx(0.0)
    assert (r.mapping_majority == -1).sum() == 9  # an empty cluster has no majority label
    assert sorted(r.mapping_hungarian) == list(range(10))  # one-to-one: every label used once


def test_surplus_clusters_stay_unmatched_under_hungarian() -> None:
    r = score_assignments(LABELS, LABELS, 12, "argmax", "test")
    assert r.accuracy_hungarian == 1.0
    np.testing.assert_array_equal(r.mapping_hungarian, [*range(10), -1, -1])


def test_majority_beats_hungarian_when_clusters_share_a_label() -> None:
    labels = np.array([0, 0, 0, 0, 1])
    clusters = np.array([0, 0, 1, 1, 1])
    assert hungarian_accuracy(clusters, labels, 2)[0] == pytest.approx(3 / 5)
    acc, mapping = majority_accuracy(clusters, labels, 2)
    assert acc == pytest.approx(4 / 5)
    np.testing.assert_array_equal(mapping, [0, 0])


@pytest.mark.parametrize("k", [4, 10, 16])
def test_majority_is_never_below_hungarian(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(20):
        clusters = rng.integers(0, k, size=len(LABELS))
        assert majority_accuracy(clusters, LABELS, k)[0] >= hungarian_accuracy(clusters, LABELS, k)[0]


def test_labels_need_not_be_zero_based() -> None:
    labels = np.array([3, 3, 8, 8, 5])
    r = score_assignments(np.array([1, 1, 0, 0, 2]), labels, 3, "argmax", "test")
    assert r.accuracy_hungarian == 1.0
    np.testing.assert_array_equal(r.mapping_hungarian, [8, 3, 5])


def test_bad_cluster_indices_are_refused() -> None:
    with pytest.raises(UsageError):
        score_assignments(np.array([0, 5]), np.array([0, 1]), 3, "argmax", "test")


def test_model_with_permuted_categories_clusters_perfectly() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2), categorical("c", 10)))
    r = cluster_analysis(encode_split(label_model(spec, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]), label_data()))
    assert (r.method, r.block, r.split, r.n, r.n_clusters) == ("argmax q(c|x)", "c", "test", len(LABELS), 10)
    assert r.accuracy_hungarian == 1.0 and r.nmi == pytest.approx(1.0)
    assert not r.is_baseline


def test_model_without_categorical_gets_a_labelled_kmeans_baseline() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 10),))
    r = cluster_analysis(encode_split(label_model(spec), label_data()), config=ClusterConfig(kmeans_seed=3))
    assert r.is_baseline and r.method == KMEANS and r.block is None
    assert r.accuracy_hungarian == 1.0  # one-hot means 5 apart: k-means must find the classes
    again = cluster_analysis(encode_split(label_model(spec), label_data()), config=ClusterConfig(kmeans_seed=3))
    np.testing.assert_array_equal(r.assignments, again.assignments)


def test_gaussian_block_is_refused_as_cluster_block() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2), categorical("c", 10)))
    with pytest.raises(UsageError, match="Gaussian"):
        cluster_analysis(encode_split(label_model(spec), label_data()), config=ClusterConfig(block="z"))


def test_contingency_counts_known_table_and_sums() -> None:
    values, counts = contingency_counts(np.array([2, 2, 0]), np.array([0, 0, 1]), 3)
    np.testing.assert_array_equal(values, [0, 1])
    np.testing.assert_array_equal(counts, [[0, 0, 2], [1, 0, 0]])
    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 7, size=len(LABELS))
    _, counts = contingency_counts(clusters, LABELS, 7)
    assert counts.sum() == len(LABELS)
    np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(LABELS))
    np.testing.assert_array_equal(counts.sum(axis=0), np.bincount(clusters, minlength=7))


def test_histograms_count_every_image_including_probability_one() -> None:
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.25, 0.75]])
    edges, counts = probability_histograms(probs, bins=4)
    np.testing.assert_allclose(edges, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(counts.sum(axis=1), [4, 4])
    np.testing.assert_array_equal(counts[0], [1, 1, 1, 1])  # 0 | 0.25 | 0.5 | 1.0 (last bin closed)
    np.testing.assert_array_equal(counts[1], [1, 0, 1, 2])


def test_summary_of_a_confident_encoder_is_diagonal_and_bimodal() -> None:
    spec = ModelSpec((1, 28, 28), (categorical("c", 10), gaussian("z", 2)))
    s = categorical_summary(encode_split(label_model(spec), label_data()), config=CategoricalConfig(bins=10))
    assert s is not None
    np.testing.assert_array_equal(s.contingency.counts, np.diag(np.bincount(LABELS)))
    assert s.histograms.counts.shape == (10, 10)
    np.testing.assert_array_equal(s.histograms.counts.sum(axis=1), [len(LABELS)] * 10)
    # q(c=k|x) is ~1 for its own class and ~0 otherwise: only the first and last bins are used.
    assert s.histograms.counts[:, 1:-1].sum() == 0
    np.testing.assert_array_equal(s.histograms.counts[:, -1], np.bincount(LABELS))


def test_summary_of_an_encoder_ignoring_c_piles_at_one_over_k() -> None:
    spec = ModelSpec((1, 28, 28), (categorical("c", 10),))
    s = categorical_summary(
        encode_split(label_model(spec, confidence=0.0), label_data()), config=CategoricalConfig(bins=8)
    )
    assert s is not None
    one_over_k_bin = int(np.searchsorted(s.histograms.edges, 0.1, side="right") - 1)
    np.testing.assert_array_equal(s.histograms.counts[:, one_over_k_bin], [len(LABELS)] * 10)


def test_no_categorical_block_gives_no_summary() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 3),))
    assert categorical_summary(encode_split(label_model(spec), label_data())) is None


def test_an_unused_code_that_still_sorts_the_labels_is_flagged() -> None:
    """Logits 0.001 apart: the argmax follows the labels exactly, but c says ~0 nats about x."""
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2), categorical("c", 10)))
    faint = encode_split(label_model(spec, confidence=1e-3), label_data())
    result = cluster_analysis(faint)
    assert result.accuracy_hungarian == 1.0
    note = unused_code_note(faint, result)
    assert note is not None and "0.000 nats" in note and "unused code" in note


def test_an_informative_code_is_not_flagged() -> None:
    spec = ModelSpec((1, 28, 28), (gaussian("z", 2), categorical("c", 10)))
    sharp = encode_split(label_model(spec), label_data())
    assert unused_code_note(sharp, cluster_analysis(sharp)) is None
