"""Name -> (config dataclass, builder) table; the only way a native checkpoint becomes a module.

A checkpoint names its architecture and stores the config as JSON. Loading looks the name up here,
validates the config against the dataclass (unknown keys are an error, not silently dropped) and
builds the module; the file's tensors are then loaded strictly. Nothing from the file is executed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from torch import nn

from vmieval.errors import CheckpointError
from vmieval.spec import ModelSpec

Builder = Callable[[Any, ModelSpec], nn.Module]


@dataclasses.dataclass(frozen=True)
class ArchitectureEntry:
    config_type: type
    build: Builder


ARCHITECTURES: dict[str, ArchitectureEntry] = {}


def register(name: str, config_type: type) -> Callable[[Builder], Builder]:
    def wrap(build: Builder) -> Builder:
        ARCHITECTURES[name] = ArchitectureEntry(config_type, build)
        return build

    return wrap


def config_from_dict(name: str, raw: Any) -> Any:
    """Validate an untrusted config dict against the architecture's dataclass."""
    entry = _entry(name)
    if not isinstance(raw, dict):
        raise CheckpointError(f"architecture {name!r}: config must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(entry.config_type)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise CheckpointError(f"architecture {name!r}: unknown config keys {unknown}")
    kwargs: dict[str, Any] = {}
    defaults = entry.config_type()
    for key, value in raw.items():
        value = tuple(value) if isinstance(value, list) else value
        if not _same_shape(value, getattr(defaults, key)):
            raise CheckpointError(f"architecture {name!r}: config {key}={value!r} has the wrong type")
        kwargs[key] = value
    try:
        return entry.config_type(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"architecture {name!r}: bad config ({exc})") from None


def build_architecture(name: str, config: Any, spec: ModelSpec) -> nn.Module:
    """Build a registered architecture; `config` is its dataclass or a plain dict."""
    entry = _entry(name)
    if not isinstance(config, entry.config_type):
        config = config_from_dict(name, config)
    try:
        return entry.build(config, spec)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"architecture {name!r} cannot be built for this spec: {exc}") from None


def _same_shape(value: Any, default: Any) -> bool:
    """JSON value vs the dataclass default: ints stay ints (not bools), tuples hold ints, floats accept ints."""
    if isinstance(default, tuple):
        return isinstance(value, tuple) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, type(default))


def _entry(name: str) -> ArchitectureEntry:
    _load_builtin()
    if name not in ARCHITECTURES:
        known = ", ".join(sorted(ARCHITECTURES))
        raise CheckpointError(f"unknown architecture {name!r}; known: {known}")
    return ARCHITECTURES[name]


def _load_builtin() -> None:
    # Imported lazily so that the registry module has no import cycle with the builders.
    from vmieval.architectures import burgess, conv, jointvae, mlp, paper, pythae_nets  # noqa: F401
