"""Analyses of a frozen VAE beside the MI numbers: cluster accuracy, contingency and probability
histograms of a categorical block, latent traversals, the ELBO and its KL terms, training curves.

Each is a pure function of (FrozenVAE, data, generator, config) returning a dataclass.
"""

from vmieval.analysis.cluster import ClusterConfig, ClusterResult, cluster_analysis
from vmieval.analysis.contingency import CategoricalConfig, CategoricalSummary, categorical_summary
from vmieval.analysis.curves import TrainingCurves, curves_from_history, training_curves
from vmieval.analysis.elbo import ElboConfig, ElboResult, elbo_analysis
from vmieval.analysis.kmeans import KMeansConfig, kmeans_accuracy, kmeans_cluster_analysis
from vmieval.analysis.traversals import Grid, TraversalConfig, Traversals, save_png, traversal_grids

__all__ = [
    "CategoricalConfig",
    "CategoricalSummary",
    "ClusterConfig",
    "ClusterResult",
    "ElboConfig",
    "ElboResult",
    "Grid",
    "KMeansConfig",
    "TrainingCurves",
    "TraversalConfig",
    "Traversals",
    "categorical_summary",
    "cluster_analysis",
    "curves_from_history",
    "elbo_analysis",
    "kmeans_accuracy",
    "kmeans_cluster_analysis",
    "save_png",
    "traversal_grids",
    "training_curves",
]
