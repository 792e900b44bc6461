"""Entry point and the error boundary: a `VmievalError` becomes one line on stderr and its exit code.

Anything else is a bug in vmieval: one line plus a hint to rerun with `--debug`, which shows the
traceback. Exit codes are documented in the README.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from vmieval.errors import VmievalError

INTERNAL_ERROR_EXIT = 70


class VmievalGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        debug = "--debug" in sys.argv[1:] or bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except VmievalError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted; files already written are intact", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the boundary for bugs
            if debug:
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)", err=True)
            ctx.exit(INTERNAL_ERROR_EXIT)


@click.group(cls=VmievalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="vmieval")
def cli(debug: bool) -> None:
    """How much does a VAE's latent code really say about the data?"""


def _register() -> None:
    from vmieval.cli.export_cmd import export_command
    from vmieval.cli.inspect_cmd import inspect_command
    from vmieval.cli.mi_bound_cmd import mi_bound_command
    from vmieval.cli.report_cmd import report_command
    from vmieval.cli.train_cmd import train_command

    cli.add_command(inspect_command)
    cli.add_command(train_command)
    cli.add_command(report_command)
    cli.add_command(export_command)
    cli.add_command(mi_bound_command)
    # Each command lives in its own module; add one import + add_command line per command here.


_register()


def main() -> None:
    cli(prog_name="vmieval")


if __name__ == "__main__":
    main()
