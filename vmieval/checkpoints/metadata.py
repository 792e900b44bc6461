"""Untrusted JSON from a checkpoint: parsed with bounds, then checked so later code can rely on it.

Every metadata document a file carries (native metadata, JointVAE's `specs.json`, an exported archive's
`vmieval.json`, the trainer's resume record) passes through here before anything reads it:
- parsing: size and nesting are bounded (deeply nested JSON is a RecursionError in `json`);
- the tree: keys are names an HDF5 file or a table can hold (not empty, not `.`/`..`, no `/`), numbers
  are finite-size (an integer of 400 digits overflows every float the report would store);
- the training record: the few keys the report and the trainers read have the types they expect.
A document that fails is one `CheckpointError` line naming the first bad field, at load time, instead
of a crash at the end of a report.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vmieval.errors import CheckpointError

MAX_JSON_CHARS = 16 << 20
MAX_DEPTH = 16  # training -> history -> epoch -> kl_per_dim -> z -> value is 5
MAX_KEY_CHARS = 200
MAX_INT = 2**63 - 1  # what an HDF5 attribute, a numpy array or a torch seed can hold


def parse_json(text: Any, where: str, what: str = "metadata", names: bool = True) -> Any:
    """`json.loads` with its failure modes (huge, nested, malformed) as one line each."""
    if not isinstance(text, str | bytes):
        raise CheckpointError(f"{where}: {what} is a {type(text).__name__}, expected a JSON string")
    if len(text) > MAX_JSON_CHARS:
        raise CheckpointError(f"{where}: {what} is {len(text):,} characters long, more than metadata needs")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{where}: {what} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{where}: {what} is not UTF-8 text") from None
    except RecursionError:
        raise CheckpointError(f"{where}: {what} is nested too deeply to be metadata") from None
    check_tree(value, where, what, names)
    return value


def _bad_key(key: str) -> bool:
    return key in ("", ".", "..") or "/" in key or "\x00" in key or len(key) > MAX_KEY_CHARS


def check_tree(value: Any, where: str, what: str = "metadata", names: bool = True) -> None:
    """Nesting at most MAX_DEPTH, integers within int64 and, with `names`, keys that can name an HDF5
    dataset (walked without recursion)."""
    pending: list[tuple[Any, str, int]] = [(value, what, 0)]
    while pending:
        node, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise CheckpointError(f"{where}: {what} is nested more than {MAX_DEPTH} levels deep ({path})")
        if isinstance(node, dict):
            for key, child in node.items():
                if not isinstance(key, str) or (names and _bad_key(key)):
                    raise CheckpointError(f"{where}: {path} has an unusable key {str(key)[:40]!r}")
                pending.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(node, list):
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
            raise CheckpointError(f"{where}: {path} is an integer too large to store ({str(node)[:20]}...)")
        elif not (node is None or isinstance(node, bool | int | float | str)):
            raise CheckpointError(f"{where}: {path} is a {type(node).__name__}, not a JSON value")


def is_int(value: Any) -> bool:
    """An integer, strictly: not a bool, not 16.7, not the string "16"."""
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value: Any, where: str, field: str) -> int:
    if not is_int(value) or value < 1:
        raise CheckpointError(f"{where}: {field} must be a positive integer, got {value!r}"[:300])
    return int(value)


def check_version(value: Any, current: int, where: str, field: str = "schema version") -> int:
    """A positive integer no newer than `current` (the string "1" is refused, not compared)."""
    version = positive_int(value, where, field)
    if version > current:
        raise CheckpointError(
            f"{where}: {field} {version} is newer than this vmieval understands ({current}); upgrade vmieval"
        )
    return version


_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "history": (list,),
    "config": (dict,),
    "heldout": (dict,),
    "settings": (dict,),
    "dataset": (str,),
    "preset": (str,),
    "objective": (str,),
    "entropy": (str,),
    "mi_target": (str,),
    "device": (str,),
}


def check_training_record(record: Any, where: str) -> dict[str, Any]:
    """The free-form training record, with the fields vmieval reads typed (missing fields are fine)."""
    if record is None:
        return {}
    if not isinstance(record, dict):
        raise CheckpointError(f"{where}: training record is a {type(record).__name__}, expected an object")
    for key, types in _RECORD_TYPES.items():
        if key in record and not isinstance(record[key], types):
            found = type(record[key]).__name__
            raise CheckpointError(f"{where}: training.{key} is a {found}, expected {types[0].__name__}")
    for key in ("seed", "epochs_done", "n_train"):
        if key in record and (not is_int(record[key]) or record[key] < 0):
            raise CheckpointError(f"{where}: training.{key} must be a non-negative integer, got {record[key]!r}"[:300])
    for key in ("lam",):
        if key in record and not (isinstance(record[key], int | float) and math.isfinite(record[key])):
            raise CheckpointError(f"{where}: training.{key} must be a finite number")
    for i, epoch in enumerate(record.get("history", [])):
        if not isinstance(epoch, dict):
            raise CheckpointError(f"{where}: training.history[{i}] is a {type(epoch).__name__}, expected an object")
    return record
