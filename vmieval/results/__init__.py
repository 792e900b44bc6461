"""Results: one `Report` per model, the single source of the HDF5 file, the JSON document, the PNG
grids and the rich tables (docs/report-schema.md)."""

from vmieval.results.build import (
    ReportConfig,
    WrittenReport,
    build_report,
    check_outputs,
    same_traversals,
    stage_generator,
    write_outputs,
)
from vmieval.results.compare import Comparison, MetricRow, compare
from vmieval.results.document import document, mi_document, to_json
from vmieval.results.hdf5 import write_document, write_reports
from vmieval.results.report import SCHEMA_VERSION, ModelMeta, Report, unique_names

__all__ = [
    "SCHEMA_VERSION",
    "Comparison",
    "MetricRow",
    "ModelMeta",
    "Report",
    "ReportConfig",
    "build_report",
    "check_outputs",
    "compare",
    "document",
    "mi_document",
    "same_traversals",
    "stage_generator",
    "to_json",
    "unique_names",
    "write_document",
    "WrittenReport",
    "write_outputs",
    "write_reports",
]
