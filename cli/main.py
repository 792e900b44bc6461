"""Entry point, lazy command loading and the error boundary.

A command's module (and with it torch) is imported only when that command runs or its own `--help`
is asked for: `vmieval --help`, a typo or a usage error answer at once. The group's help lists each
command's one-line summary from `COMMANDS` (a test checks they match the commands' docstrings).

Errors: a `VmievalError` becomes one line on stderr and its exit code; a click usage error (bad
option, unknown choice, a folder where a file is expected) is one line and exit 2; anything else is
a bug in vmieval: one line plus a hint to rerun with `--debug`, which shows the traceback. Exit
codes are documented in the README.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click
from vmieval.cli.interrupts import install as install_signal_handlers

from vmieval.allocator import tune_allocator
from vmieval.errors import VmievalError, terminal_safe

ERROR_LIMIT = 400  # characters of one error line: a message quoting 50k file keys is cut, not printed

INTERNAL_ERROR_EXIT = 70

# name -> ("module:attribute" of the click command, its one-line summary shown by `vmieval --help`).
COMMANDS: dict[str, tuple[str, str]] = {
    "export": (
        "vmieval.cli.export_cmd:export_command",
        "Export your own VAE to OUTPUT (a zip of torch.export programs plus vmieval.json).",
    ),
    "inspect": (
        "vmieval.cli.inspect_cmd:inspect_command",
        "Describe CHECKPOINT: format, architecture, latent spec, training record.",
    ),
    "merge": (
        "vmieval.cli.merge_cmd:merge_command",
        "Merge sweep folders or report.h5 files into one table (sweep.h5, sweep.csv) without recomputing.",
    ),
    "mi-bound": (
        "vmieval.cli.mi_bound_cmd:mi_bound_command",
        "Lower bounds on I(target; decoded image) and the encoder's I_q(x; target) for CHECKPOINT.",
    ),
    "report": (
        "vmieval.cli.report_cmd:report_command",
        "Report on CHECKPOINT: MI bounds beside KL, ELBO, cluster accuracy, contingency, traversals.",
    ),
    "sweep": (
        "vmieval.cli.sweep_cmd:sweep_command",
        "Report on many checkpoints into one folder and one table (resumable, on a process pool, Ray or SLURM).",
    ),
    "train-reference": (
        "vmieval.cli.train_cmd:train_command",
        "Train the reference VAE(s) of a paper preset into OUT/<preset>-<objective>.pt.",
    ),
}


class OneLineUsageError(click.UsageError):
    """click's usage error, shown as one line (`error: ... (see 'vmieval CMD --help')`), exit 2."""

    def show(self, file: Any = None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "vmieval"
        click.echo(f"error: {self.format_message()} (see '{where} --help')", err=True)


def _one_line(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, OneLineUsageError | click.exceptions.NoArgsIsHelpError):
        return exc
    return OneLineUsageError(exc.format_message(), exc.ctx)


class VmievalGroup(click.Group):
    """Imports a command's module on first use (click's documented lazy-group pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name][0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the summaries in `COMMANDS`, without importing any command."""
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]  # whole: write_dl wraps, never cuts
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        debug = "--debug" in sys.argv[1:] or bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except VmievalError as exc:
            if debug:
                raise
            click.echo(f"error: {terminal_safe(str(exc), ERROR_LIMIT)}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted; files already written are intact", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the boundary for bugs
            if debug:
                raise
            message = terminal_safe(f"{type(exc).__name__}: {exc}", ERROR_LIMIT)
            click.echo(f"internal error: {message} (rerun with --debug for a traceback)", err=True)
            ctx.exit(INTERNAL_ERROR_EXIT)


@click.group(cls=VmievalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="vmieval")
def cli(debug: bool) -> None:
    """How much does a VAE's latent code really say about the data?"""


def quiet_library_warnings() -> None:
    """numpy's RuntimeWarnings (overflow, invalid value in a cast) and PIL's DecompressionBombWarning
    are not lines for the user: a value they warn about is refused by a check with its own one line."""
    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"numpy(\.|$)")
    warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")


def main() -> None:
    # Signal handling (SIGTERM / Ctrl-C) is installed here, before any command runs.
    install_signal_handlers()
    quiet_library_warnings()
    tune_allocator()  # glibc: conv activations reused from the heap, not mmapped per batch (vmieval.allocator)
    cli(prog_name="vmieval")


if __name__ == "__main__":
    main()
