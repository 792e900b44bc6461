"""The whole results document: root attributes, one group per model, and a comparison group.

`document(reports)` builds the tree that `vmieval.results.hdf5` writes and `to_json` prints, so
the HDF5 file and `--json` have the same keys by construction; `mi_document` is the same tree for
one model's MI rows alone (`vmieval mi-bound`), so its `--json` and `--out` use the report's keys.
JSON differences, all forced by the format: NaN and infinities become null, numpy arrays become
(nested) lists, and a traversal image becomes `{"attrs": {...}, "shape": [H, W, 3], "png": path}`
instead of its pixels.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch

from vmieval.errors import UsageError
from vmieval.estimators.mi import MIResult
from vmieval.results.compare import compare
from vmieval.results.report import SCHEMA_VERSION, GridLeaf, ModelMeta, Report, mi_tree


def root_attrs(argv: list[str] | None = None) -> dict[str, Any]:
    """Provenance of the file: schema and library versions, the command line, the time (UTC)."""
    from vmieval import __version__

    return {
        "schema_version": SCHEMA_VERSION,
        "vmieval_version": __version__,
        "torch_version": str(torch.__version__),
        "argv": json.dumps(list(sys.argv if argv is None else argv)),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def document(reports: list[Report], argv: list[str] | None = None) -> dict[str, Any]:
    """The root tree: `attrs`, a group per report (by name), and `comparison` for 2+ reports."""
    names = [r.name for r in reports]
    if len(set(names)) != len(names):
        raise UsageError(f"two reports share a name: {names}")
    tree: dict[str, Any] = {"attrs": root_attrs(argv) | {"models": names}}
    for r in reports:
        tree[r.name] = r.tree()
    if len(reports) > 1:
        tree["comparison"] = compare(reports).tree()
    return tree


def mi_document(result: MIResult, meta: ModelMeta, argv: list[str] | None = None) -> dict[str, Any]:
    """The tree of one model holding only its `mi/` group (the estimator's warnings in `mi/@note`)."""
    attrs = meta.attrs() | {"settings": json.dumps({"mi": result.config.to_dict()}, sort_keys=True)}
    mi = mi_tree(result.estimates(), "; ".join(result.warnings), result.qbound)
    return {"attrs": root_attrs(argv) | {"models": [meta.name]}, meta.name: {"attrs": attrs, "mi": mi}}


def jsonable(node: Any) -> Any:
    """A tree node as plain JSON values (see the module docstring for what changes)."""
    if isinstance(node, dict):
        return {str(k): jsonable(v) for k, v in node.items()}
    if isinstance(node, GridLeaf):
        return {"attrs": jsonable(node.attrs()), "shape": list(node.grid.pixels.shape), "png": node.png}
    if isinstance(node, np.ndarray):
        return jsonable(node.tolist())
    if isinstance(node, list | tuple):
        return [jsonable(v) for v in node]
    if isinstance(node, np.generic):
        return jsonable(node.item())
    if isinstance(node, float):
        return node if math.isfinite(node) else None
    if node is None or isinstance(node, bool | int | str):
        return node
    return str(node)


def to_json(tree: dict[str, Any], indent: int | None = 2) -> str:
    """Strict JSON (no NaN literals) of a document tree."""
    return json.dumps(jsonable(tree), indent=indent, allow_nan=False)
