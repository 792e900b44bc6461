"""Build a model's `Report` from the analyses and estimators, and write its files.

`build_report` encodes the split once (`vmieval.encoded.encode_split`) and runs every stage on that
encoding: MI estimates (`vmieval.estimators.estimate_mi`, skippable), the ELBO and its KL terms,
cluster scores, contingency and histograms, traversals, the stored training curves and, when the data
carries ground-truth factors, the I(z_j; v_k) matrix with both MIGs (`estimators.factors`). Only the
stages that must decode (the ELBO's reconstruction, the Q bound's pairs, traversals) run the model
again. Each stage gets its own generator seeded from (seed, stage), so a number does not change
when another stage is switched off. A stage that does not apply to the
model or the data (e.g. k-means with fewer images than classes) is recorded as a note in the
report instead of aborting it; a model that cannot read the data fails before any work.

`write_outputs` writes the figures (`vmieval.results.pngs`) and `report.h5` into one folder as a unit
(`vmieval.outputs.write_folder`: a hidden sibling folder, then swapped into place), refusing to replace
an earlier report without `force`; `check_outputs` is `vmieval.outputs.check_report_folder`, the one
pre-flight check, run before the (slow) stages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vmieval.analysis.cluster import ClusterConfig, cluster_analysis, unused_code_note
from vmieval.analysis.contingency import CategoricalConfig, categorical_summary
from vmieval.analysis.curves import training_curves
from vmieval.analysis.elbo import ElboConfig, elbo_analysis
from vmieval.analysis.traversals import TraversalConfig, check_traversal_config, traversal_grids
from vmieval.data import Dataset, ImageData
from vmieval.distributions import sample_prior
from vmieval.encoded import EncodedSplit, encode_split
from vmieval.errors import DataError, UsageError
from vmieval.estimators.config import MIConfig
from vmieval.estimators.factors import FactorConfig, split_factor_report
from vmieval.estimators.latents import latent_generator, latent_summary
from vmieval.estimators.mi import MIResult, estimate_mi
from vmieval.figures.canvas import save_figure
from vmieval.frozen import FrozenVAE
from vmieval.outputs import check_report_folder, write_folder
from vmieval.results.document import document
from vmieval.results.hdf5 import write_document
from vmieval.results.pngs import report_figures
from vmieval.results.report import ModelMeta, Report

REPORT_FILE = "report.h5"
STAGES = ("mi", "elbo", "cluster", "categorical", "traversals", "training")
LATER_STAGES = ("factors",)  # seeded apart from STAGES, so adding one changes no earlier stage's draws
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ReportConfig:
    """Every setting of a report; stored in the report (`settings`). `mi` None skips the MI stage."""

    seed: int = 0
    mi: MIConfig | None = field(default_factory=MIConfig)  # the estimator's own policy, as in `mi-bound`
    elbo: ElboConfig = ElboConfig()
    cluster: ClusterConfig = ClusterConfig()
    categorical: CategoricalConfig = CategoricalConfig()
    traversal: TraversalConfig = TraversalConfig()
    factors: FactorConfig = FactorConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def stage_generator(seed: int, stage: str) -> torch.Generator:
    """An independent generator per stage, reproducible from the report seed alone."""
    if stage in LATER_STAGES:
        return torch.Generator().manual_seed(2**40 + int(seed) * len(LATER_STAGES) + LATER_STAGES.index(stage))
    return torch.Generator().manual_seed(int(seed) * len(STAGES) + STAGES.index(stage))


def build_report(
    model: FrozenVAE,
    data: Dataset | ImageData,
    name: str,
    config: ReportConfig = ReportConfig(),
    progress: Progress | None = None,
) -> Report:
    """Every analysis of `model` on `data` (one split, streamed and encoded once), as one `Report`.

    A model that cannot read the data (wrong image shape) fails here, before any other work.
    """
    if len(data) == 0:
        raise DataError(f"the {data.name} {data.split} split holds no images")
    if progress is not None:
        progress(f"{name}: encoding {len(data)} images")
    split = encode_split(model, data)
    report = Report(ModelMeta.from_model(model, name, config.seed, data), settings=config.to_dict())
    if model.spec.likelihood == "gaussian":  # a decoder whose means miss the data's range: say so once
        from vmieval.export import range_warnings

        with torch.no_grad():
            images = model.decode_mean(sample_prior(model.spec, 16, torch.Generator().manual_seed(1), model.device))
        for warning in range_warnings(model.spec, images):
            report.notes["likelihood"] = warning

    def stage(key: str, label: str, run: Callable[[torch.Generator], Any]) -> Any:
        if progress is not None:
            progress(f"{name}: {label}")
        try:
            return run(stage_generator(config.seed, key))
        except UsageError as exc:
            report.notes[key] = f"skipped: {exc}"
            return None

    if config.mi is not None:
        result = stage("mi", "MI estimates", lambda g: _estimate_mi(model, split, config.mi, g, name, progress))
        if result is not None:
            report.estimates = list(result.estimates())
            report.q = result.qbound
            if result.warnings:
                report.notes["mi"] = "; ".join(result.warnings)
    else:
        report.notes["mi"] = "skipped: MI estimation switched off (--no-mi)"
    report.elbo = stage("elbo", "ELBO and KL", lambda g: elbo_analysis(model, split, g, config.elbo))
    report.cluster = stage("cluster", "cluster scores", lambda g: cluster_analysis(split, config.cluster))
    unused = unused_code_note(split, report.cluster) if report.cluster is not None else None
    if unused is not None:
        report.notes["cluster"] = unused
    report.categorical = stage("categorical", "contingency", lambda g: categorical_summary(split, config.categorical))
    report.traversals = stage("traversals", "traversals", lambda g: traversal_grids(model, split, g, config.traversal))
    if split.factors is not None:
        report.factors = stage("factors", "factor MI and MIG", lambda g: split_factor_report(split, g, config.factors))
    else:
        report.notes.pop("factors", None)  # no factors is the usual case, not worth a note
    if progress is not None:
        progress(f"{name}: per-latent KL and I_q")
    report.latents = latent_summary(split, latent_generator(config.seed))
    report.curves = training_curves(model)
    _say_once(report.notes)
    return report


def _say_once(notes: dict[str, str]) -> None:
    """Unlabelled data skips several analyses for one reason: keep the first note, drop the repeats."""
    seen: set[str] = set()
    for key, note in list(notes.items()):
        if note in seen:
            del notes[key]
        seen.add(note)


def same_traversals(config: ReportConfig, first: Report, model: FrozenVAE) -> ReportConfig:
    """`config` set to draw the traversal dims `first` drew, so a comparison shows every model
    the same grids; unchanged for a model whose Gaussian block cannot take them."""
    drawn = first.traversals
    if drawn is None:
        return config
    pinned = dataclasses.replace(config.traversal, dims=drawn.dims or config.traversal.dims, sweep=drawn.sweep)
    try:
        check_traversal_config(model.spec, pinned)
    except UsageError:
        return config
    return dataclasses.replace(config, traversal=pinned)


def _estimate_mi(
    model: FrozenVAE,
    split: EncodedSplit,
    config: MIConfig,
    generator: torch.Generator,
    name: str,
    progress: Progress | None,
) -> MIResult:
    def relay(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(f"{name}: MI, {phase}" + (f" {done}/{total}" if total > 1 else ""))

    config = dataclasses.replace(config, split=split.split)
    return estimate_mi(model, split, config, generator, relay)


def check_outputs(out_dir: str | Path, names: list[str], force: bool) -> Path:
    """Refuse, before any work, a report folder that cannot be written or would replace an earlier
    report without `force` (the one pre-flight check: `vmieval.outputs.check_report_folder`)."""
    return check_report_folder(out_dir, names, force, REPORT_FILE)


@dataclass(frozen=True)
class WrittenReport:
    """What `write_outputs` wrote: the folder, `report.h5`, the PNGs, and the document tree the
    file was written from (print it with `to_json` for a `--json` identical to the file)."""

    folder: Path
    h5: Path
    pngs: tuple[Path, ...]
    document: dict[str, Any]


def write_outputs(
    reports: list[Report], out_dir: str | Path, argv: list[str] | None = None, force: bool = False
) -> WrittenReport:
    """The figures (`vmieval.results.pngs`), then `report.h5` recording the grids' final paths, written
    into a hidden sibling of `out_dir` and swapped into place as one unit (`vmieval.outputs.write_folder`)."""
    out = check_outputs(out_dir, [r.name for r in reports], force)
    pngs: list[Path] = []
    holder: dict[str, Any] = {}

    def write(staged: Path) -> None:
        for owner, path, build in report_figures(reports, out):
            save_figure(build(), staged / path.name, force=True)
            pngs.append(path)
            for r in reports:
                if r.name == owner:
                    r.png[path.stem.removeprefix(f"{r.name}-")] = str(path)
        holder["tree"] = document(reports, argv)
        write_document(staged / REPORT_FILE, holder["tree"], force=True)

    write_folder(out, write, force=force)
    return WrittenReport(out, out / REPORT_FILE, tuple(pngs), holder["tree"])
