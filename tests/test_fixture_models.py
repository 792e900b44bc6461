"""The embedded default models: they load, and the MI model uses its code where the ELBO model doesn't."""

from __future__ import annotations

import torch
from shared_paths import FIXTURE_MODELS

import vmieval
from vmieval.data import load_images
from vmieval.encoded import encode_split
from vmieval.estimators.encoder import categorical_mi

MODELS = FIXTURE_MODELS


def _exact_mi(name: str) -> float:
    model = vmieval.load(MODELS / f"{name}.pt")
    data = load_images("mnist-sample", "test")
    posterior = encode_split(model, data).posterior
    value, _ = categorical_mi(posterior["c"].log_probs.double())
    return value


def test_fixture_pair_differs_in_categorical_information() -> None:
    elbo, mi = _exact_mi("sample-joint-elbo"), _exact_mi("sample-joint-mi")
    assert elbo < 0.2
    assert mi > 1.5


def test_fixture_models_record_their_training() -> None:
    record = vmieval.load(MODELS / "sample-joint-mi.pt").training_record
    assert record["objective"] == "mi" and record["preset"] == "sample-joint"
    assert len(record["history"]) == record["epochs_done"]
    assert torch.tensor([e["elbo"] for e in record["history"]]).isfinite().all()
