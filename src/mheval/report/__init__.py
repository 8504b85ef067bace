"""Published outputs: tables, figures and the HTML report (disclosure control is :mod:`mheval.disclosure`)."""

from mheval.report.html import build_html_report, format_table, software_versions, write_table

__all__ = ["build_html_report", "format_table", "software_versions", "write_table"]
