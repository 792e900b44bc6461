"""Tests of the decoder-side cost policy, plan and progress (vmieval.estimators.decoder.policy, .plan).

Known answers: a fixed average pooling in front of Q keeps a code that survives pooling (the bound
reaches H(c) = log 2) and loses one that does not (a checkerboard phase: the bound is 0, still below
the true log 2, as data processing says); bf16 and fp32 fits agree within their stderr; the plan's
time is the product it states; progress names every fold and ends each at the epochs it ran.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_estimators_qbound import linear_gaussian_model
from test_intervals import SMALL, template_model

from vmieval.estimators import MIConfig, q_bound
from vmieval.estimators.config import PLAN_PREFIX
from vmieval.estimators.decoder.crossfit import crossfit_q_bound
from vmieval.estimators.decoder.pairs import generate_pairs
from vmieval.estimators.decoder.plan import fit_pairs, plan_line
from vmieval.estimators.decoder.policy import front_pool, resolve_policy
from vmieval.estimators.decoder.qnet import QNetwork, QPart
from vmieval.frozen import CheckpointInfo, FrozenVAE
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target

INFO = CheckpointInfo("test", "test", "", "callables")
SIDE = 64


def pattern_model(checkerboard: bool) -> FrozenVAE:
    """Latent [z (1), c (2)] -> a 64x64 image: c lights the left or right half (survives 2x2 pooling), or,
    with `checkerboard`, one of the two checkerboard phases (every 2x2 pooled cell then reads 0.5 for both)."""
    spec = ModelSpec((1, SIDE, SIDE), (gaussian("z", 1), categorical("c", 2)))
    i, j = torch.meshgrid(torch.arange(SIDE), torch.arange(SIDE), indexing="ij")
    first = ((i + j) % 2 == 0) if checkerboard else (j < SIDE // 2)
    templates = torch.stack([first, ~first]).float() * 12.0 - 6.0  # Bernoulli logits [2, 64, 64]

    def decode(latent: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bk,khw->bhw", latent[:, 1:], templates).unsqueeze(1)

    return FrozenVAE(spec, lambda x: torch.zeros(x.shape[0], 3), decode, INFO)


def ba_row(result):
    return next(e for e in result.estimates() if e.family == "barber-agakov" and e.valid)


@pytest.mark.parametrize("checkerboard, expected", [(False, math.log(2)), (True, 0.0)])
def test_pooled_front_end_is_a_fixed_function_of_x_hat(checkerboard: bool, expected: float) -> None:
    model = pattern_model(checkerboard)
    config = MIConfig(target="c", codes="prior", samples=1000, q_hidden=16, max_epochs=10, patience=2)
    result = q_bound(model, parse_target("c", model.spec), config, torch.Generator().manual_seed(0))
    ba = ba_row(result)
    assert ba.params["front"] == "avgpool2" and front_pool((1, SIDE, SIDE), "auto") == 2
    assert abs(ba.value - expected) < 0.03 + 3 * ba.stderr, ba
    assert ba.value <= math.log(2) + 3 * ba.stderr  # below the true I(c; x_hat) = log 2 either way


def test_pairs_pooled_as_decoded_are_the_pooled_pairs() -> None:
    """The bound's pairs go through Q's pooling front as they are decoded (`transform`), so 64x64 images are
    never all held at full size: the same codes, and exactly the pooling of the full-size pairs."""
    model = pattern_model(checkerboard=False)
    target, policy = parse_target("c", model.spec), resolve_policy(MIConfig(), (1, SIDE, SIDE), torch.device("cpu"))
    full = generate_pairs(model, target, "prior", 300, torch.Generator().manual_seed(1), batch_size=128)
    pooled = generate_pairs(model, target, "prior", 300, torch.Generator().manual_seed(1), batch_size=128,
                            transform=policy.front)  # fmt: skip
    assert pooled.x_hat.shape == (300, 1, SIDE // 2, SIDE // 2) and torch.equal(pooled.codes[0], full.codes[0])
    assert torch.equal(pooled.x_hat, torch.nn.AvgPool2d(2, ceil_mode=True)(full.x_hat))
    assert policy.on_pooled().pool == 1 and policy.on_pooled().params() == {**policy.params(), "front": "full"}


def test_policy_resolution_and_q_state_keys() -> None:
    assert [front_pool((1, s, s), "auto") for s in (28, 32, 33, 64, 100)] == [1, 1, 2, 2, 4]
    assert front_pool((3, 64, 64), "full") == 1
    fp32 = resolve_policy(MIConfig(precision="fp32"), (1, 28, 28), torch.device("cpu"))
    assert fp32.params() == {"precision": "fp32", "front": "full", "optimiser": "adam-fused"}
    assert resolve_policy(MIConfig(precision="bf16"), (3, 64, 64), torch.device("cpu")).params()["front"] == "avgpool2"
    parts = (QPart("categorical", "c", 10),)
    pooled, plain = QNetwork((1, 64, 64), parts, pool=2), QNetwork((1, 32, 32), parts)
    assert pooled.state_dict().keys() == plain.state_dict().keys()  # the front end holds no state
    assert [o.dtype for o in QNetwork((1, 8, 8), parts, bf16=True)(torch.rand(3, 1, 8, 8))] == [torch.float32]


@pytest.mark.parametrize(
    "arch, pool, bf16, stored",
    [("mlp", 1, True, torch.bfloat16), ("conv", 1, True, torch.bfloat16), ("mlp", 2, True, torch.bfloat16),
     ("conv", 2, True, torch.bfloat16), ("paper", 2, False, torch.float32), ("mlp", 1, False, torch.float32)],
)  # fmt: skip
def test_front_applied_once_keeps_every_output_bit(arch: str, pool: int, bf16: bool, stored: torch.dtype) -> None:
    """fit_q pools and casts its pairs once (`through_front`: the pooling, then the cast autocast would make at
    the first layer) and feeds the body (`from_front`), so Q's outputs keep every bit of the full forward pass;
    float32 layers keep float32."""
    torch.manual_seed(0)
    q = QNetwork((1, 16, 16), (QPart("categorical", "c", 10), QPart("gaussian", "z", 2)), arch, 32, pool, bf16)
    q.eval()
    x = torch.rand(64, 1, 16, 16)
    stored_x = q.through_front(x)
    assert stored_x.dtype == stored and stored_x.shape[-1] == 16 // pool
    for mine, reference in zip(q.from_front(stored_x), q(x), strict=True):
        assert torch.equal(mine, reference)
    rows = torch.tensor([5, 0, 9])  # a minibatch gathered from the stored pairs is the same as pooling it alone
    for mine, reference in zip(q.from_front(stored_x.index_select(0, rows)), q(x[rows]), strict=True):
        assert torch.equal(mine, reference)


def test_bf16_and_fp32_fits_agree_within_their_stderr() -> None:
    model = linear_gaussian_model(0.5)
    values = []
    for precision in ("fp32", "bf16"):
        config = MIConfig(target="z[0:2]", codes="prior", samples=6000, q_hidden=32, max_epochs=20, patience=3,
                          precision=precision)  # fmt: skip
        ba = ba_row(q_bound(model, parse_target("z[0:2]", model.spec), config, torch.Generator().manual_seed(0)))
        assert ba.params["precision"] == precision
        values.append(ba)
    a, b = values
    assert abs(a.value - b.value) < 3 * math.hypot(a.stderr, b.stderr), (a, b)


def test_plan_states_its_product() -> None:
    config = MIConfig(samples=20_000)
    assert fit_pairs(config, 5) == 14_000 and fit_pairs(config, 2) == 8_750 and fit_pairs(config, 1) == 14_000
    line = plan_line(config, 5, 1e-5)  # 5 folds x 15 epochs x 14,000 pairs x 1e-5 s x (1 + 0.1/3) = 10.85 s
    assert line.startswith(
        PLAN_PREFIX + "5 folds × ≤ 100 epochs on 20,000 pairs, ≈ 11 s here at 15 epochs a fold (≤ 72"
    )
    assert line.endswith("--folds 2 ≈ 3 s")


def test_progress_names_folds_ends_them_at_the_epochs_run_and_covers_pairs() -> None:
    events: list[tuple[str, int, int]] = []
    model = template_model()
    config = MIConfig(target="c", codes="prior", **SMALL)  # type: ignore[arg-type]
    result = crossfit_q_bound(model, parse_target("c", model.spec), config, torch.Generator().manual_seed(0),
                              folds=4, progress=lambda *e: events.append(e))  # fmt: skip
    pairs = [e for e in events if e[0] == "pairs"]
    assert pairs[-1][1] == pairs[-1][2] >= config.samples
    assert any(e[0].startswith(PLAN_PREFIX) for e in events)
    for f, curve in enumerate(result.curves, 1):
        last = [e for e in events if e[0] == f"Q fit, fold {f}/4"][-1]
        assert last[1:] == (len(curve.val_log_q), len(curve.val_log_q))
    assert events[-1][0] == "scoring" or any(e[0] == "scoring" for e in events)
    infonce = next(e for e in result.estimates() if e.family == "infonce")
    assert infonce.params["pairs"] == "fresh" and infonce.n == 4096  # 32 batches of 128 fresh pairs
    assert infonce.params["critic"] == "log Q(t|x_hat) - log p(t)"  # the rows say which critic scored them
