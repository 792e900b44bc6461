"""Errors a user can cause, each mapped to a one-line message and an exit code at the CLI boundary.

Anything that is not a `VmievalError` is a bug in vmieval and may show a traceback (under `--debug`).
The exit codes are part of the documented interface (README, "Exit codes"): scripts that drive
vmieval can tell a policy refusal (needs `--trust`) from a broken file or missing data.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def terminal_safe(text: str, limit: int = 200) -> str:
    """`text` as a terminal may show it: control characters (ESC, CR, newlines, C1, bidi overrides)
    written as escapes, so a name from a file cannot move the cursor or recolour the screen, and cut to
    `limit` characters (head and tail kept) so a file with 50k keys cannot print a megabyte."""
    safe = _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
    if len(safe) <= limit:
        return safe
    tail = max(limit // 3, 1)
    return f"{safe[: limit - tail - 3]}...{safe[-tail:]}"


def some(items: list[str] | tuple[str, ...], count: int = 8) -> str:
    """The first `count` of `items`, terminal-safe and comma-separated, with how many more there are."""
    shown = ", ".join(terminal_safe(i, 40) for i in items[:count])
    return shown + (f" and {len(items) - count} more" if len(items) > count else "")


def first_line(exc: BaseException, limit: int = 200) -> str:
    """What a one-line error may quote of an exception: the first line of its message (its type's
    name when it has none), cut to `limit` characters (libraries raise multi-line messages)."""
    return terminal_safe((str(exc).strip().splitlines() or [type(exc).__name__])[0], limit)


class VmievalError(Exception):
    """Base class: the message is a single line that says what is wrong and what to do."""

    exit_code = 1


class UsageError(VmievalError):
    """Arguments that cannot work together (an unknown target, a bad option value)."""

    exit_code = 2


class CheckpointError(VmievalError):
    """A checkpoint that is not readable, not ours, or inconsistent with itself."""

    exit_code = 3


class TrustRequired(VmievalError):
    """Loading would execute code from the file; refused until the user passes --trust."""

    exit_code = 4


class DataError(VmievalError):
    """A dataset that cannot be found, read, or fed to the model."""

    exit_code = 5


class OutputError(VmievalError):
    """An output path that cannot be written, or would overwrite a file without --force."""

    exit_code = 6
