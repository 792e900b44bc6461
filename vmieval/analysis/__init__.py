"""Analyses of a frozen VAE beside the MI numbers: cluster accuracy, contingency and probability
histograms of a categorical block, latent traversals, the ELBO and its KL terms, training curves.

Each reads the split encoded once (`vmieval.encoded.EncodedSplit`), plus the FrozenVAE where it must
decode (ELBO, traversals), and returns a dataclass. Names are imported on first use, so importing one
analysis does not import the others' libraries (scikit-learn's k-means, torchvision).
"""

from vmieval.lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "categorical_summary": "vmieval.analysis.contingency",
        "CategoricalConfig": "vmieval.analysis.contingency",
        "CategoricalSummary": "vmieval.analysis.contingency",
        "cluster_analysis": "vmieval.analysis.cluster",
        "ClusterConfig": "vmieval.analysis.cluster",
        "ClusterResult": "vmieval.analysis.cluster",
        "curves_from_history": "vmieval.analysis.curves",
        "elbo_analysis": "vmieval.analysis.elbo",
        "ElboConfig": "vmieval.analysis.elbo",
        "ElboResult": "vmieval.analysis.elbo",
        "Grid": "vmieval.analysis.traversals",
        "kmeans_accuracy": "vmieval.analysis.kmeans",
        "kmeans_cluster_analysis": "vmieval.analysis.kmeans",
        "KMeansConfig": "vmieval.analysis.kmeans",
        "training_curves": "vmieval.analysis.curves",
        "TrainingCurves": "vmieval.analysis.curves",
        "traversal_grids": "vmieval.analysis.traversals",
        "TraversalConfig": "vmieval.analysis.traversals",
        "Traversals": "vmieval.analysis.traversals",
    },
)

__all__ = [
    "categorical_summary",
    "CategoricalConfig",
    "CategoricalSummary",
    "cluster_analysis",
    "ClusterConfig",
    "ClusterResult",
    "curves_from_history",
    "elbo_analysis",
    "ElboConfig",
    "ElboResult",
    "Grid",
    "kmeans_accuracy",
    "kmeans_cluster_analysis",
    "KMeansConfig",
    "training_curves",
    "TrainingCurves",
    "traversal_grids",
    "TraversalConfig",
    "Traversals",
]
