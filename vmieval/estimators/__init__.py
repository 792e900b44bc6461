"""Mutual-information estimators: decoder-side bounds (post-hoc Q) and encoder-side values and bounds.

Every estimator is a pure function of (FrozenVAE, data, generator, config) returning a dataclass
whose `estimates()` are `Estimate` rows: value, standard error, sample size, split, estimator.
"""

from vmieval.estimators.estimate import Estimate

__all__ = ["Estimate"]
