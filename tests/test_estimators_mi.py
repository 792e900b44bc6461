"""`estimate_mi` end to end: orderings every correct estimator must respect, on a small joint VAE
trained inside the test (a few seconds on real MNIST digits), and on the reference checkpoints
when they exist; plus the config, the default target and the JSON form of a result.

Orderings (all in nats): I_q(y; c) ≤ I_q(x; c) (data processing: y is a function of the image),
I_q(x; c) ≤ E_x KL(q(c|x) || U) ≤ log K, the Barber-Agakov bound ≤ the H(c) it starts from, and
the valid bound ≤ the paper's (H(q̄) ≤ log K).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from shared_paths import FIXTURE_MODELS

from vmieval.architectures import build_architecture
from vmieval.data import ImageData, load_images
from vmieval.distributions import Posterior, bernoulli_log_likelihood, concat_latent
from vmieval.encoded import encode_split
from vmieval.errors import UsageError
from vmieval.estimators import MIConfig, MIResult, default_target, estimate_mi
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian

REFERENCES = [FIXTURE_MODELS / f"sample-joint-{kind}.pt" for kind in ("elbo", "mi")]


def train_joint_vae(images: torch.Tensor, steps: int = 400) -> FrozenVAE:
    """A 14x14 MLP VAE with z (2) and c (10), Gumbel-softmax c (T = 0.67), trained on the ELBO with the
    KL of c dropped: with the full ELBO such a model ignores c (I_q(x; c) ~ 0) and every ordering below
    would hold trivially as 0 <= 0."""
    spec = ModelSpec((1, 14, 14), (gaussian("z", 2), categorical("c", 10)))
    torch.manual_seed(0)
    module = build_architecture("mlp", {"hidden": [128]}, spec)
    optimiser = torch.optim.Adam(module.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x = images[torch.randint(0, images.shape[0], (100,), generator=g)]
        post = Posterior.from_flat(spec, module.encode(x))
        latent = concat_latent(spec, post.sample(g, temperature=0.67))
        kl = post["z"].kl_to_prior()
        loss = (kl - bernoulli_log_likelihood(module.decode(latent), x)).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return FrozenVAE.from_module(module, spec, CheckpointInfo("trained-in-test", "test", "", "mlp"))


def check_orderings(result: MIResult, k: int, block: str = "c") -> None:
    def one(quantity: str, kind: str, family: str = "", valid: bool = True) -> float:
        (e,) = [
            e for e in result.estimates()
            if e.estimand == quantity and e.kind == kind and e.family.startswith(family) and e.valid == valid
        ]  # fmt: skip
        assert math.isfinite(e.value) and e.stderr >= 0
        return e.value

    i_y = one(f"I_q(y; {block})", "exact")
    i_x = one(f"I_q(x; {block})", "exact")
    kl = one(f"I_q(x; {block})", "upper_bound")
    assert i_y <= i_x + 1e-9 and i_x <= kl + 1e-9 and kl <= math.log(k) + 1e-9
    ba = one(f"I({block}; x_hat)", "lower_bound", "barber-agakov")
    paper = one(f"I({block}; x_hat)", "lower_bound", "barber-agakov", valid=False)
    h = result.encoder.aggregate_entropy[block]
    assert ba <= h + 1e-9 and ba <= paper + 1e-9 and paper <= math.log(k) + 1e-9
    assert one(f"I({block}; x_hat)", "lower_bound", "fano") <= h + 1e-9


def test_orderings_on_a_model_trained_in_the_test() -> None:
    train = load_images("mnist-sample", "train", image_size=14)
    test = load_images("mnist-sample", "test", image_size=14)
    model = train_joint_vae(train.images)
    config = MIConfig(samples=2000, max_epochs=8, patience=2, q_hidden=64, folds=2)
    result = estimate_mi(model, encode_split(model, test), config)
    assert result.target == "c" == default_target(model.spec)
    check_orderings(result, 10)
    i_x = next(e for e in result.estimates() if e.estimand == "I_q(x; c)" and e.kind == "exact")
    assert i_x.value > 0.05  # the model uses c, so the orderings are not all 0 <= 0
    assert i_x.n == 500 and i_x.split == "test"
    json.dumps(result.to_dict())  # every field is plain JSON


@pytest.mark.skipif(not all(p.exists() for p in REFERENCES), reason="fixture models missing")
@pytest.mark.parametrize("path", REFERENCES, ids=lambda p: p.stem)
def test_orderings_on_reference_checkpoints(path: Path) -> None:
    from vmieval import load

    model = load(path)
    test = load_images("mnist-sample", "test")
    config = MIConfig(samples=2000, max_epochs=8, patience=2, folds=2)  # still cross-fitted: two Q fits, not five
    result = estimate_mi(model, encode_split(model, test), config)
    check_orderings(result, model.spec.block("c").size)


def test_default_target() -> None:
    assert default_target(ModelSpec((1, 2, 2), (gaussian("z", 5), categorical("c", 3)))) == "c"
    assert default_target(ModelSpec((1, 2, 2), (categorical("a", 3), categorical("b", 4)))) == "a,b"
    assert default_target(ModelSpec((1, 2, 2), (gaussian("z", 1), gaussian("w", 5)))) == "z[0:1]"
    assert default_target(ModelSpec((1, 2, 2), (gaussian("z", 8),))) == "z[0:2]"


@pytest.mark.parametrize(
    "bad",
    [{"codes": "aggregate"}, {"samples": 5}, {"q_arch": "resnet"}, {"fractions": (0.5, 0.5, 0.5)}, {"split": "val"}],
)
def test_config_rejects_bad_values(bad: dict) -> None:
    with pytest.raises(UsageError):
        MIConfig(**bad)


def test_bad_target_is_a_usage_error() -> None:
    spec = ModelSpec((1, 2, 2), (gaussian("z", 2),))
    model = FrozenVAE(spec, lambda x: torch.zeros(x.shape[0], 4), lambda z: torch.zeros(z.shape[0], 1, 2, 2),
                      CheckpointInfo("t", "t", "", "t"))  # fmt: skip
    with pytest.raises(UsageError):
        estimate_mi(model, encode_split(model, ImageData(torch.rand(10, 1, 2, 2), None, "t", "test", "")),
                    MIConfig(target="z[0:3]"))  # fmt: skip
