"""Package attributes imported on first use (PEP 562), so `import vmieval` costs no torch.

The command line answers `--help` and usage errors in a fraction of a second only if importing a
package does not import its heavy submodules. A package lists its public names here with the
module that defines them; the module is imported the first time one of its names is read.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module-level `__getattr__` and `__dir__` for `package`.

    exports: public name -> "module" (the attribute of the same name) or "module:attribute".
    A name read once is stored on the package, so later reads are plain attribute lookups.
    """

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
