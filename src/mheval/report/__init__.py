"""Published outputs: cell-size suppression, publication audit, tables and the HTML report."""

from mheval.report.html import build_html_report, format_table, software_versions, write_table
from mheval.report.suppression import (
    PublicationError,
    assert_publishable,
    check_published_outputs,
    find_recoverable_cells,
    find_small_counts,
    is_count_column,
    suppress_small_cells,
)

__all__ = [
    "PublicationError",
    "assert_publishable",
    "build_html_report",
    "check_published_outputs",
    "find_recoverable_cells",
    "find_small_counts",
    "format_table",
    "is_count_column",
    "software_versions",
    "suppress_small_cells",
    "write_table",
]
