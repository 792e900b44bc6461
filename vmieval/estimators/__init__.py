"""Mutual-information estimators: decoder-side bounds (post-hoc Q) and encoder-side values and bounds.

Every estimator is a pure function of (FrozenVAE, data, generator, config) returning a dataclass
whose `estimates()` are `Estimate` rows: value, standard error, sample size, split, estimator.
`estimate_mi` runs all of them for one target.
"""

from vmieval.estimators.config import MIConfig
from vmieval.estimators.encoder import EncoderResult, categorical_mi, encoder_mi, label_mi, monte_carlo_mi
from vmieval.estimators.estimate import Estimate
from vmieval.estimators.factors import FactorConfig, FactorReport, factor_report, split_factor_report
from vmieval.estimators.mi import MIResult, default_target, estimate_mi
from vmieval.estimators.qbound import QBoundResult, fano_bound, q_bound
from vmieval.estimators.qfit import QCurve

__all__ = [
    "EncoderResult",
    "Estimate",
    "FactorConfig",
    "FactorReport",
    "MIConfig",
    "MIResult",
    "QBoundResult",
    "QCurve",
    "categorical_mi",
    "default_target",
    "encoder_mi",
    "estimate_mi",
    "factor_report",
    "fano_bound",
    "label_mi",
    "monte_carlo_mi",
    "q_bound",
    "split_factor_report",
]
