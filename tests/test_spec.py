"""The spec: layout offsets, JSON round trip, validation of untrusted fields, target parsing."""

from __future__ import annotations

import pytest

from vmieval.errors import CheckpointError, UsageError
from vmieval.spec import ModelSpec, categorical, gaussian, parse_target


def test_offsets_follow_block_order(joint_spec: ModelSpec) -> None:
    assert joint_spec.param_offsets() == {"z": (0, 8), "c": (8, 18)}
    assert joint_spec.param_width == 18 and joint_spec.latent_width == 14


def test_json_round_trip(joint_spec: ModelSpec) -> None:
    assert ModelSpec.from_dict(joint_spec.to_dict()) == joint_spec


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(observation_shape=[28, 28]),
        lambda d: d.update(likelihood="poisson"),
        lambda d: d["blocks"].append({"kind": "gaussian", "name": "z", "size": 2}),
        lambda d: d["blocks"].append({"kind": "vonmises", "name": "v", "size": 2}),
        lambda d: d["blocks"].append({"kind": "categorical", "name": "k", "size": 1}),
        lambda d: d["blocks"].append({"kind": "gaussian", "name": "bad name", "size": 2}),
        lambda d: d.update(blocks=[]),
        lambda d: d.update(value_range=[1.0, 0.0]),
        lambda d: d.pop("blocks"),
    ],
)
def test_malformed_spec_is_a_checkpoint_error(joint_spec: ModelSpec, mutate) -> None:
    d = joint_spec.to_dict()
    mutate(d)
    with pytest.raises(CheckpointError):
        ModelSpec.from_dict(d)


def test_parse_target(joint_spec: ModelSpec) -> None:
    assert parse_target("c", joint_spec).label() == "c"
    assert parse_target("z[0:2]", joint_spec).label() == "z[0:2]"
    assert parse_target("c, z[1:3]", joint_spec).label() == "c,z[1:3]"
    for bad in ("q", "c[0:2]", "z[0:9]", "z[2:2]", "c,c", "z[0:"):
        with pytest.raises(UsageError):
            parse_target(bad, joint_spec)


def test_spec_helpers() -> None:
    spec = ModelSpec((1, 8, 8), (gaussian("z", 2), categorical("c", 3)), likelihood="gaussian", likelihood_scale=0.1)
    assert [b.name for b in spec.blocks_of_kind("categorical")] == ["c"]
    with pytest.raises(UsageError):
        spec.block("nope")
