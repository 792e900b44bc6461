"""Writing results documents to HDF5 (h5py), atomically: a temporary file, then a rename.

A tree from `vmieval.results.document` maps one to one onto the file: a dict is a group, its
`"attrs"` entry the group's attributes, every other entry a dataset. Strings are stored as UTF-8
variable-length strings (h5py returns them as bytes; `.asstr()` or `.decode()` reads them), lists
of strings as 1-d string datasets, traversal images as uint8 [H, W, 3] datasets (gzip) carrying
their title, axes and PNG path as attributes. docs/report-schema.md lists every path.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vmieval.outputs import atomic_write
from vmieval.results.document import document
from vmieval.results.report import GridLeaf, Report

STRING = h5py.string_dtype(encoding="utf-8")


def _attr_value(value: Any) -> Any:
    """An attribute value h5py can store: strings, numbers, bools, arrays, string lists."""
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)  # a str subclass (torch's TorchVersion) has no HDF5 type
    if isinstance(value, bool | int | float | np.generic):
        return value
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return np.array(list(value), dtype=STRING)
    if isinstance(value, list | tuple):
        return np.asarray(value)
    return json.dumps(value, sort_keys=True, default=str)


def _write_attrs(obj: h5py.HLObject, attrs: Mapping[str, Any]) -> None:
    for key, value in attrs.items():
        obj.attrs[str(key)] = _attr_value(value)


def _write_leaf(group: h5py.Group, name: str, value: Any) -> None:
    if isinstance(value, GridLeaf):
        ds = group.create_dataset(name, data=value.grid.pixels.astype(np.uint8), compression="gzip")
        _write_attrs(ds, value.attrs())
    elif isinstance(value, str):
        group.create_dataset(name, data=value, dtype=STRING)
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        group.create_dataset(name, data=np.array(list(value), dtype=object), dtype=STRING, shape=(len(value),))
    elif isinstance(value, np.ndarray) and value.size > 4096:
        group.create_dataset(name, data=value, compression="gzip")
    else:
        group.create_dataset(name, data=np.asarray(value))


def write_tree(group: h5py.Group, tree: Mapping[str, Any]) -> None:
    """Write a document tree (or subtree) into an open group."""
    for key, value in tree.items():
        if key == "attrs":
            _write_attrs(group, value)
        elif isinstance(value, Mapping):
            write_tree(group.create_group(str(key)), value)
        else:
            _write_leaf(group, str(key), value)


def write_document(path: str | Path, tree: Mapping[str, Any], force: bool = False) -> Path:
    """Write a tree to `path` atomically; an existing file is an OutputError unless `force`."""

    def write(tmp: Path) -> None:
        # Built in memory, then written as plain bytes: a full disk is one OSError from `write_bytes`,
        # never an HDF5 library failure half-way through its own file (which can crash the process).
        buffer = io.BytesIO()
        with h5py.File(buffer, "w") as f:
            write_tree(f, tree)
        tmp.write_bytes(buffer.getbuffer())

    return atomic_write(path, write, force=force)


def write_reports(path: str | Path, reports: list[Report], argv: list[str] | None = None, force: bool = False) -> Path:
    """The report file of one or several models (with a comparison group for several)."""
    return write_document(path, document(reports, argv), force=force)
