"""Shared fixtures: tiny specs and checkpoints, so each test builds in milliseconds.

One torch thread per test process: `make test` runs a pytest-xdist worker per core, and the CLI run in
process (CliRunner) or in a child takes its thread count from $OMP_NUM_THREADS (set before torch loads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

from vmieval.architectures import build_architecture
from vmieval.checkpoints import save_native
from vmieval.spec import ModelSpec, categorical, gaussian

torch.set_num_threads(1)


@pytest.fixture
def joint_spec() -> ModelSpec:
    return ModelSpec((1, 28, 28), (gaussian("z", 4), categorical("c", 10)))


@pytest.fixture
def tiny_native(tmp_path: Path, joint_spec: ModelSpec) -> Path:
    """An untrained MLP checkpoint of the joint spec (plumbing tests only)."""
    torch.manual_seed(0)
    module = build_architecture("mlp", {"hidden": [32]}, joint_spec)
    return save_native(tmp_path / "tiny.pt", module, "mlp", {"hidden": [32]}, joint_spec, {"seed": 0})


# Tests of several seconds each (3 s or more on the loaded 2-core machine, `--durations=0`), marked slow
# here in one place: `pytest -m "not slow"` is the quick pass, `make test` runs everything.
SLOW = {
    "test_hostile_memory.py::test_the_done_when_files_are_refused_under_1_gib",
    "test_intervals.py::test_crossfit_with_posterior_codes_and_reproducible",
    "test_intervals.py::test_crossfit_bounds_known_answers",
    "test_paper_presets.py::test_resume_mid_epoch_equals_an_uninterrupted_run",
    "test_paper_presets.py::test_run_records_curves_and_checkpoint_loads_safely",
    "test_paper_presets.py::test_stop_checkpoints_early_and_resume_refuses_other_settings",
    "test_jointvae.py::test_real_checkpoint_through_mi_bound_without_flags",
    "test_jointvae.py::test_real_checkpoint_reconstructs_and_clusters_digits",
    "test_cli_startup.py::test_inspect_imports_only_the_checkpoint_reader",
    "test_hostile_resume.py::test_resume_after_a_kill_at_every_write_boundary",
    "test_paper_reproduce.py::test_collect_reports_merges_and_plots",
    "test_estimators_mi.py::test_orderings_on_reference_checkpoints",
    "test_estimators_mi.py::test_orderings_on_a_model_trained_in_the_test",
    "test_report_cli.py::test_compare_json_is_the_document_and_files_are_written",
    "test_report_cli.py::test_existing_output_needs_force",
    "test_estimators_qbound.py::test_linear_gaussian_channel_within_two_percent",
    "test_estimators_qbound.py::test_collapsed_encoder_paper_bound_is_log_k_valid_bound_is_zero",
    "test_report_figures.py::test_comparison_writes_every_figure",
    "test_report_figures.py::test_report_compare_cli_uses_the_first_models_dims",
    "test_report_figures.py::test_single_model_figures_are_named_after_it",
    "test_factors.py::test_gaussian_latent_of_a_binary_factor_matches_numerical_integration",
    "test_results.py::test_every_documented_path_exists",
    # 1.5-2.5 s each serially on a quiet machine: the quick pass ran 62 s with them, over its minute
    "test_reproduce_quick.py::test_quick_reproduction_writes_results_and_resumes",
    "test_hostile_outputs.py::test_a_signal_at_the_swap_leaves_one_whole_report",
    "test_labels_and_messages.py::test_report_on_factor_data_draws_the_heatmap_and_the_latent_bars",
    "test_hostile_outputs.py::test_real_full_disk_is_exit_6_one_line_and_the_old_report_intact",
    "test_sweep_cli.py::test_sweep_writes_the_table_figures_and_resumes",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if f"{Path(item.path).name}::{item.originalname}" in SLOW:
            item.add_marker(pytest.mark.slow)
