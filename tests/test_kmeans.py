"""k-means cluster accuracy of Gaussian codes (vmieval.analysis.kmeans): known answers.

Well-separated clusters are recovered exactly (accuracy 1 under both mappings, NMI 1), labels drawn
independently of the code score at chance, and the label says it is the k-means baseline.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vmieval.analysis.cluster import KMEANS
from vmieval.analysis.kmeans import KMeansConfig, gaussian_means, kmeans_accuracy, kmeans_cluster_analysis
from vmieval.distributions import CategoricalPosterior, GaussianPosterior
from vmieval.errors import UsageError


def blobs(k: int, per: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K Gaussian blobs in 4-d, centres 20 apart, labels permuted so cluster ids cannot match by luck."""
    rng = np.random.default_rng(seed)
    centres = 20.0 * rng.standard_normal((k, 4))
    labels = np.repeat(rng.permutation(k), per)
    return centres[labels] + spread * rng.standard_normal((k * per, 4)), labels


def test_well_separated_clusters_score_one() -> None:
    features, labels = blobs(5, 60, spread=0.5)
    result = kmeans_accuracy(features, labels, "test")
    assert result.method == KMEANS and result.is_baseline
    assert result.accuracy_hungarian == 1.0 and result.accuracy_majority == 1.0
    assert result.nmi == pytest.approx(1.0) and result.ari == pytest.approx(1.0)
    assert result.n_clusters == 5 and result.n == 300


def test_labels_independent_of_the_code_score_near_chance() -> None:
    features, _ = blobs(4, 250, spread=0.5)
    labels = np.random.default_rng(7).integers(0, 4, len(features))
    result = kmeans_accuracy(features, labels, "test")
    assert result.accuracy_hungarian == pytest.approx(0.25, abs=0.05)
    assert result.nmi < 0.02


def test_same_seed_same_clusters() -> None:
    features, labels = blobs(3, 40, spread=8.0, seed=2)  # overlapping: the initialisation matters
    a = kmeans_accuracy(features, labels, "test", KMeansConfig(seed=3, n_init=1))
    b = kmeans_accuracy(features, labels, "test", KMeansConfig(seed=3, n_init=1))
    assert np.array_equal(a.assignments, b.assignments)


def test_encoded_split_uses_every_gaussian_block_and_needs_labels() -> None:
    features, labels = blobs(3, 30, spread=0.3)
    posterior = {
        "z": GaussianPosterior(torch.from_numpy(features[:, :2]).float(), torch.zeros(90, 2)),
        "c": CategoricalPosterior(torch.zeros(90, 3)),
        "w": GaussianPosterior(torch.from_numpy(features[:, 2:]).float(), torch.zeros(90, 2)),
    }
    assert gaussian_means(posterior).shape == (90, 4)
    split = SimpleNamespace(posterior=posterior, labels=torch.from_numpy(labels), split="test")
    assert kmeans_cluster_analysis(split).accuracy_hungarian == 1.0
    with pytest.raises(UsageError, match="labels"):
        kmeans_cluster_analysis(SimpleNamespace(posterior=posterior, labels=None, split="test"))


def test_refusals_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="Gaussian"):
        gaussian_means({"c": CategoricalPosterior(torch.zeros(4, 3))})
    with pytest.raises(UsageError, match="clusters"):
        kmeans_accuracy(np.zeros((2, 1)), np.array([0, 1]), "test", KMeansConfig(n_clusters=3))
    with pytest.raises(UsageError, match="labels"):
        kmeans_accuracy(np.zeros((3, 1)), np.array([0, 1]), "test")


def test_a_real_encoded_split_of_a_gaussian_only_model() -> None:
    from vmieval.data.dataset import ImageData
    from vmieval.encoded import encode_split
    from vmieval.frozen import CheckpointInfo, FrozenVAE
    from vmieval.spec import ModelSpec, gaussian

    features, labels = blobs(3, 40, spread=0.3, seed=4)
    images = torch.from_numpy(features).float().view(-1, 1, 2, 2)  # the "image" is the code itself
    spec = ModelSpec((1, 2, 2), (gaussian("z", 4),), value_range=(-1e3, 1e3))
    model = FrozenVAE(spec, lambda x: torch.cat([x.flatten(1), torch.zeros(len(x), 4)], 1),
                      lambda z: torch.zeros(len(z), 1, 2, 2), CheckpointInfo("t", "t", "", "callables"))  # fmt: skip
    data = ImageData(images, torch.from_numpy(labels), "blobs", "test", "memory")
    result = kmeans_cluster_analysis(encode_split(model, data))
    assert result.accuracy_hungarian == 1.0 and result.method == KMEANS and result.split == "test"
