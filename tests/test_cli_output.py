"""Output that survives redirection: every --format renders the same rows, a redirected table keeps
every column and cell, progress off a terminal is plain periodic lines, "wrote ..." and progress go
to stderr (silenced by --quiet), and --threads holds exactly while a command runs."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner
from shared_paths import FIXTURE_MODELS
from vmieval.cli import options, output
from vmieval.cli.main import cli
from vmieval.cli.progress import PlainProgress, phase_callback, progress

TABLE = output.Table(
    "estimates | pipes",
    (output.Column("quantity"), output.Column("estimate", "right")),
    (("I(c; x̂)", output.Styled((("1.500", ""), (" ± 0.010", "dim")))), ("KL|c", "2.000")),
    footnotes=("† not a valid bound",),
)


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(line for line in io.StringIO(text) if not line.startswith("#")))


def test_every_format_carries_the_same_cells() -> None:
    md = output.to_markdown([TABLE]).splitlines()
    assert md[0] == "**estimates \\| pipes**"
    assert md[2:6] == ["| quantity | estimate |", "| --- | ---: |", "| I(c; x̂) | 1.500 ± 0.010 |", "| KL\\|c | 2.000 |"]
    assert "- † not a valid bound" in md
    text = output.to_csv([TABLE])
    assert csv_rows(text) == [["quantity", "estimate"], ["I(c; x̂)", "1.500 ± 0.010"], ["KL|c", "2.000"]]
    assert text.startswith("# estimates | pipes\n") and "# † not a valid bound\n" in text
    (table,) = json.loads(output.to_json_tables([TABLE]))["tables"]
    assert table["rows"] == [
        {"quantity": "I(c; x̂)", "estimate": "1.500 ± 0.010"},
        {"quantity": "KL|c", "estimate": "2.000"},
    ]


def test_redirected_table_keeps_every_column_and_cell() -> None:
    """Twelve long columns (~400 characters) into a pipe: nothing dropped, cut or wrapped."""
    columns = [output.Column(f"column number {i} with a long header") for i in range(12)]
    rows = [[f"cell {r}.{i} " + "x" * 20 for i in range(12)] for r in range(3)]
    note = "a footnote longer than any terminal: " + "y" * 300

    @click.command()
    def show() -> None:
        output.emit([output.Table("wide", columns, rows, footnotes=(note,))])

    result = CliRunner().invoke(show, [])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for r, row in enumerate(rows):
        (line,) = [line for line in lines if f"cell {r}.0 " in line]  # each row on one line
        assert all(cell in line for cell in row)
    assert all(c.header in result.stdout for c in columns) and note in lines


def test_inspect_in_each_format() -> None:
    checkpoint = str(FIXTURE_MODELS / "sample-joint-mi.pt")
    runner = CliRunner()
    as_csv = runner.invoke(cli, ["inspect", checkpoint, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    fields = dict(csv_rows(as_csv.stdout)[1:])
    assert fields["format"] == "native" and fields["training.objective"] == "mi"
    as_md = runner.invoke(cli, ["inspect", checkpoint, "--format", "md"])
    assert "| format | native |" in as_md.stdout.splitlines()
    for args in (["--json"], ["--format", "json"]):
        document = json.loads(runner.invoke(cli, ["inspect", checkpoint, *args]).stdout)
        assert document["format"] == "native"


def test_plain_progress_is_quiet_at_first_then_periodic_and_ends_finished() -> None:
    now = [0.0]
    stream = io.StringIO()
    with PlainProgress(stream, period=10.0, clock=lambda: now[0]) as bar:
        report = phase_callback(bar)
        report("encode", 0, 1)  # finished within the quiet start: never shown
        for epoch in range(1, 41):
            now[0] += 1.0
            report("Q fit", epoch if epoch < 30 else 29, 40)  # stops early at 29 of 40
        report("writing", 0, 1)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[0:10] Q fit: 10/40"
    assert [line.split("]")[0] for line in lines[:4]] == ["[0:10", "[0:20", "[0:30", "[0:40"]
    assert not any("encode" in line for line in lines)
    assert [line.split("] ")[1] for line in lines[-3:]] == ["Q fit: 40/40 done", "writing: 0/1", "writing: 1/1 done"]


def test_progress_kind_follows_stderr_and_quiet() -> None:
    @click.command()
    @options.output_options
    def run() -> None:
        bar = progress()
        click.echo(type(bar).__name__)
        with bar:
            bar.add_task("work", total=1)

    assert CliRunner().invoke(run, []).stdout.strip() == "PlainProgress"  # CliRunner's stderr is no terminal
    quiet = CliRunner().invoke(run, ["--quiet"])
    assert quiet.stdout.strip() == "Progress" and quiet.stderr == ""


def test_threads_hold_while_the_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    @click.command()
    @options.common_options
    def run() -> None:
        seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    assert CliRunner().invoke(run, ["--threads", "3"]).exit_code == 0
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert CliRunner().invoke(run, []).exit_code == 0
    assert seen == [3, 2] and torch.get_num_threads() == before
    assert CliRunner().invoke(run, ["--threads", "0"]).exit_code == 2


def test_default_threads_leave_room_on_a_shared_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for cores, expected in ((1, 1), (2, 1), (6, 3), (64, options.MAX_DEFAULT_THREADS)):
        monkeypatch.setattr(options, "available_cores", lambda cores=cores: cores)
        assert options.default_threads() == expected
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert options.default_threads() == 7


def test_train_writes_tables_on_stdout_and_wrote_lines_on_stderr(tmp_path: Path) -> None:
    args = ["train-reference", "--preset", "sample-joint", "--objective", "mi", "--out", str(tmp_path)]
    args += ["--epochs", "1", "--limit", "64", "--device", "cpu"]
    result = CliRunner().invoke(cli, [*args, "--format", "md"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("**last epoch") and "| ELBO |" in result.stdout and "wrote" not in result.stdout
    assert f"wrote {tmp_path / 'sample-joint-mi.pt'}" in result.stderr
    quiet = CliRunner().invoke(cli, [*args, "--force", "--quiet", "--format", "csv"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    elbo = dict(row[:2] for row in csv_rows(quiet.stdout)[1:])["ELBO"]
    assert math.isfinite(float(elbo))


def test_mi_bound_into_a_file_keeps_every_cell_and_footnote() -> None:
    """`vmieval mi-bound m.pt > out.txt`: each row's cells (as CSV gives them) whole on one line."""
    args = ["mi-bound", str(FIXTURE_MODELS / "sample-joint-elbo.pt"), "--dataset", "mnist-sample"]
    args += ["--limit", "100", "--samples", "200", "--max-epochs", "1"]
    table, as_csv = (CliRunner().invoke(cli, [*args, "--format", f]) for f in ("table", "csv"))
    assert table.exit_code == 0 and as_csv.exit_code == 0, table.output + as_csv.output
    header, *rows = csv_rows(as_csv.stdout)
    assert header == ["quantity", "side", "kind", "estimate (nats)", "estimator", "n", "split"]
    lines = table.stdout.splitlines()
    for row in rows:
        assert len([line for line in lines if all(cell in line for cell in row)]) == 1, row
    footnotes = [line[2:] for line in as_csv.stdout.splitlines()[1:] if line.startswith("# ")]
    assert footnotes and all(note in lines for note in footnotes)  # "† ..." lines, whole
    assert "…" not in table.stdout


def test_report_json_alone_writes_nothing_and_runs_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["report", str(FIXTURE_MODELS / "sample-joint-mi.pt"), "--dataset", "mnist-sample", "--limit", "100"]
    for _ in range(2):
        result = CliRunner().invoke(cli, [*args, "--no-mi", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["sample-joint-mi"]["attrs"]["dataset"] == "mnist-sample"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["inspect", "mi-bound", "report"])
def test_unknown_dataset_and_folder_checkpoint_are_one_line(command: str, tmp_path: Path) -> None:
    results = [CliRunner().invoke(cli, [command, str(tmp_path)])]  # a folder that is no pythae model
    if command != "inspect":
        args = [command, str(FIXTURE_MODELS / "sample-joint-mi.pt"), "--dataset", "nope"]
        results.append(CliRunner().invoke(cli, args))
    for result in results:
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and result.stdout == ""
