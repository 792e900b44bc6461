"""Mutual-information estimators: decoder-side bounds (post-hoc Q) and encoder-side values and bounds.

Every estimator is a pure function of the split encoded once (`vmieval.encoded.EncodedSplit`), the
FrozenVAE where it must decode, a generator and a config, returning a dataclass whose `estimates()`
are `Estimate` rows: a value with its standard error, sample size and split, identified by
structured fields (quantity, side, kind, family, entropy, params). `estimate_mi` runs all of them
for one target.
"""

from vmieval.lazy import lazy_exports

# Names are imported on first use: add new ones to this table, not as imports, so that
# `vmieval <cmd> --help` never imports torch (tests/test_cli_startup.py).
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "categorical_mi": "vmieval.estimators.encoder",
        "default_target": "vmieval.estimators.mi",
        "encoder_mi": "vmieval.estimators.encoder",
        "EncoderResult": "vmieval.estimators.encoder",
        "Estimate": "vmieval.estimators.estimate",
        "estimate_mi": "vmieval.estimators.mi",
        "factor_report": "vmieval.estimators.factors",
        "FactorConfig": "vmieval.estimators.factors",
        "FactorReport": "vmieval.estimators.factors",
        "fano_bound": "vmieval.estimators.decoder.bound",
        "label_mi": "vmieval.estimators.encoder",
        "MIConfig": "vmieval.estimators.config",
        "MIResult": "vmieval.estimators.mi",
        "monte_carlo_mi": "vmieval.estimators.encoder",
        "q_bound": "vmieval.estimators.decoder.single",
        "QBoundResult": "vmieval.estimators.decoder.bound",
        "QCurve": "vmieval.estimators.decoder.fit",
        "split_factor_report": "vmieval.estimators.factors",
    },
)

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
