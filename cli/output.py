"""What a command prints, as data, and how it is rendered: a rich table, Markdown, CSV or JSON.

A command (or `render.py`) builds `Table`s, `Notes` and `SideBySide` groups; `emit` renders them in
the `--format` the user chose. Output that is not a terminal gets the table at its full width, so
`vmieval mi-bound m.pt > out.txt` keeps every column, cell and footnote. Informational lines
(`info`, `wrote`) go to stderr and are silenced by `--quiet`; warnings and errors never are.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

FORMATS = ("table", "md", "csv", "json")
# Width of a console that is not a terminal: wide enough that no table is ever cut or wrapped.
UNLIMITED_WIDTH = 100_000
_SETTINGS_KEY = "vmieval.output"

Justify = Literal["left", "right", "center"]


@dataclass(frozen=True)
class Settings:
    """The output choices of one invocation (`--format`, `--quiet`), kept on the click context."""

    format: str = "table"
    quiet: bool = False


def settings() -> Settings:
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_SETTINGS_KEY, Settings()) if ctx is not None else Settings()


def update_settings(ctx: click.Context, **changes: Any) -> None:
    ctx.meta[_SETTINGS_KEY] = dataclasses.replace(ctx.meta.get(_SETTINGS_KEY, Settings()), **changes)


def wants_json() -> bool:
    return settings().format == "json"


@dataclass(frozen=True)
class Styled:
    """A cell made of (text, rich style) pieces: the terminal shows the styles, other formats the text."""

    parts: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return "".join(text for text, _ in self.parts)


Cell = str | Styled


@dataclass(frozen=True)
class Column:
    header: str
    justify: Justify = "left"
    style: str = ""  # terminal only


@dataclass(frozen=True)
class Table:
    """A titled table: one tuple of cells per row, footnotes printed under it in every format."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence[Cell]]
    footnotes: Sequence[str] = ()
    row_styles: Sequence[str] = ()  # one rich style per row (terminal only), or empty
    show_header: bool = True

    def records(self) -> list[dict[str, str]]:
        headers = [c.header for c in self.columns]
        return [dict(zip(headers, map(str, row), strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Notes:
    """Lines of prose under the tables (what a reader must know about the numbers)."""

    title: str
    lines: Sequence[str]
    style: str = "yellow"


@dataclass(frozen=True)
class SideBySide:
    """Small tables shown next to each other on a terminal, one after another elsewhere."""

    tables: Sequence[Table] = field(default_factory=tuple)


Block = Table | Notes | SideBySide


def _tables(blocks: Iterable[Block]) -> Iterable[Table | Notes]:
    for block in blocks:
        if isinstance(block, SideBySide):
            yield from block.tables
        else:
            yield block


def to_markdown(blocks: Iterable[Block]) -> str:
    """GitHub-flavoured Markdown: a bold title, the table, footnotes as a list (to paste into a paper)."""

    def cell(value: Cell) -> str:
        return str(value).replace("|", "\\|").replace("\n", "<br>")

    align = {"left": "---", "right": "---:", "center": ":---:"}
    out: list[str] = []
    for block in _tables(blocks):
        out.append(f"**{cell(block.title.strip())}**\n")
        if isinstance(block, Notes):
            out += [f"- {line}" for line in block.lines]
        else:
            out.append("| " + " | ".join(cell(c.header) for c in block.columns) + " |")
            out.append("| " + " | ".join(align[c.justify] for c in block.columns) + " |")
            out += ["| " + " | ".join(cell(v) for v in row) + " |" for row in block.rows]
            if block.footnotes:
                out.append("")
                out += [f"- {note}" for note in block.footnotes]
        out.append("")
    return "\n".join(out)


def to_csv(blocks: Iterable[Block]) -> str:
    """One CSV block per table; titles, notes and footnotes are `#` lines (`pandas.read_csv(comment="#")`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for i, block in enumerate(_tables(blocks)):
        if i:
            buffer.write("\n")
        buffer.write(f"# {block.title}\n")
        if isinstance(block, Notes):
            buffer.writelines(f"# {line}\n" for line in block.lines)
            continue
        writer.writerow([c.header for c in block.columns])
        writer.writerows([[str(v) for v in row] for row in block.rows])
        buffer.writelines(f"# {note}\n" for note in block.footnotes)
    return buffer.getvalue()


def to_json_tables(blocks: Iterable[Block]) -> str:
    """Tables as records, for commands whose result has no JSON document of its own."""
    out: list[dict[str, Any]] = []
    for block in _tables(blocks):
        if isinstance(block, Notes):
            out.append({"title": block.title, "notes": list(block.lines)})
        else:
            out.append({"title": block.title, "rows": block.records(), "footnotes": list(block.footnotes)})
    return json.dumps({"tables": out}, indent=2)


def rich_table(table: Table, with_title: bool = True) -> RenderableType:
    """The rich view of `table`; `with_title=False` leaves the title to be printed on its own line
    (a rich title is wrapped to the table's width, which would cut a long title into pieces)."""
    from rich.table import Table as RichTable
    from rich.text import Text

    title = Text(safe(table.title)) if with_title else None
    rendered = RichTable(title=title, title_justify="left", show_header=table.show_header)
    for column in table.columns:
        rendered.add_column(Text(safe(column.header)), justify=column.justify, style=column.style or None)
    styles = list(table.row_styles) or [""] * len(table.rows)
    for row, style in zip(table.rows, styles, strict=True):
        cells = [
            Text.assemble(*((safe(t), s) for t, s in v.parts)) if isinstance(v, Styled) else Text(safe(v)) for v in row
        ]
        rendered.add_row(*cells, style=style or None)
    return rendered


def _rich_blocks(blocks: Iterable[Block]) -> list[RenderableType]:
    from rich.columns import Columns
    from rich.text import Text

    out: list[RenderableType] = []
    for block in blocks:
        if isinstance(block, SideBySide):
            out.append(Columns([rich_table(t) for t in block.tables], padding=(0, 4)))
        elif isinstance(block, Notes):
            lines = [safe(block.title), *(f"* {safe(line)}" for line in block.lines)]
            out.append(Text("\n".join(lines), style=block.style))
        else:
            out += [Text(safe(block.title), style="italic"), rich_table(block, with_title=False)]
            if block.footnotes:
                out.append(Text("\n".join(safe(f) for f in block.footnotes), style="dim"))
    return out


def console() -> Console:
    """A rich console on stdout: the terminal's width, or unlimited when redirected."""
    from rich.console import Console

    terminal = sys.stdout.isatty()
    return Console(file=sys.stdout, width=None if terminal else UNLIMITED_WIDTH, soft_wrap=not terminal)


def emit(blocks: Sequence[Block], document: Any = None) -> None:
    """Print `blocks` on stdout in the chosen format; `--format json` prints `document` when given
    (the command's own JSON, e.g. the report's; a string is printed as it is), else the tables as records."""
    fmt = settings().format
    if fmt == "json":
        if isinstance(document, str):
            click.echo(document)
        elif document is not None:
            click.echo(json.dumps(document, indent=2, default=str))
        else:
            click.echo(to_json_tables(blocks))
    elif fmt == "md":
        click.echo(to_markdown(blocks), nl=False)
    elif fmt == "csv":
        click.echo(to_csv(blocks), nl=False)
    else:
        out = console()
        for renderable in _rich_blocks(blocks):
            out.print(renderable)


def safe(text: str, limit: int = 2000) -> str:
    """A string from a file or a user (a name, a key, a path) as a terminal may show it: control
    characters escaped (no raw ESC), cut to `limit` characters (`vmieval.errors.terminal_safe`)."""
    from vmieval.errors import terminal_safe

    return terminal_safe(str(text), limit)


def info(message: str) -> None:
    """An informational line on stderr (silenced by --quiet)."""
    if not settings().quiet:
        click.echo(safe(message), err=True)


def warn(message: str) -> None:
    """A warning on stderr: never silenced."""
    click.echo(f"warning: {safe(message)}", err=True)


def wrote(path: str | Path, detail: str = "") -> None:
    """`wrote PATH (detail)` on stderr, the one way every command reports a file it wrote."""
    info(f"wrote {path}" + (f" ({detail})" if detail else ""))
