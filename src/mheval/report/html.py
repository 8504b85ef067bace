"""Self-contained HTML report and table writers (CSV, Markdown, LaTeX, HTML).

Everything here is deterministic: the same input gives byte-identical output. No
timestamps are added (pass them in ``metadata``), floats are formatted with a
fixed number of decimals, and no optional formatting library (tabulate, jinja2)
is used, so output does not depend on which of them is installed.
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import math
import platform
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path

import pandas as pd

__all__ = ["build_html_report", "format_table", "software_versions", "write_table"]

DEFAULT_PACKAGES = (
    "mheval", "numpy", "pandas", "scipy", "statsmodels", "lifelines",
    "duckdb", "pyarrow", "matplotlib", "snakemake",
)  # fmt: skip

_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
_LONG_TEXT = 80
_CSS = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 64em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
nav ol { padding-left: 1.5em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: .3em; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .6em; }
thead th { border-bottom: 2px solid #444; text-align: left; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
table.results td:not(.num) { min-width: 7em; }
.table-block { margin: 1em 0 1.8em; }
.table-wrap { overflow-x: auto; max-width: 100%; }
.table-wrap table { margin: 0; font-size: .85em; }
table.results thead tr:first-child:not(:last-child) th { text-align: center; border-bottom: 1px solid #888; }
table.results thead tr:first-child:not(:last-child) th:empty { border-bottom: none; }
table.results thead th { font-weight: 600; }
p.table-note { font-size: .8em; color: #444; margin: .25em 0; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: .9em; color: #444; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; line-height: 1.3; }
  nav { break-after: page; }
  section { break-before: page; }
  h2 { margin-top: 0; break-after: avoid; }
  .table-wrap { overflow: visible; }
  .table-wrap table, table { font-size: 8pt; }
  th, td { padding: .15em .4em; }
  thead { display: table-header-group; }
  tr, figure, .table-note { break-inside: avoid; }
  caption { break-after: avoid; }
  figure img { max-height: 160mm; }
  pre { white-space: pre-wrap; overflow-wrap: anywhere; overflow: visible; font-size: 7pt; }
  a { color: inherit; text-decoration: none; }
}
""".strip()


# --------------------------------------------------------------------------- formatting


def format_table(df: pd.DataFrame, *, digits: int = 3, index: bool | None = None) -> pd.DataFrame:
    """Render every cell of a table as text, the same way for every output format.

    Parameters
    ----------
    df : pandas.DataFrame
        Table to format.
    digits : int, default 3
        Decimals shown for non-integral numbers (``-0.000`` is written ``0.000``).
        Integers, including integral values of integer columns, are shown whole.
    index : bool, optional
        Keep the index as leading column(s). By default it is kept unless it is a
        plain ``RangeIndex`` without a name.

    Returns
    -------
    pandas.DataFrame
        Object frame of strings with flat string column names; missing values are
        empty strings. Numeric columns are listed in ``attrs["numeric"]``.
    """
    if index is None:
        index = not (isinstance(df.index, pd.RangeIndex) and all(n is None for n in df.index.names))
    frame = df.reset_index() if index else df.reset_index(drop=True)
    names = [_flat_name(c) for c in frame.columns]
    cells = {i: [_format_cell(v, digits) for v in frame.iloc[:, i]] for i in range(frame.shape[1])}
    out = pd.DataFrame(cells, index=range(len(frame)), columns=range(frame.shape[1]), dtype=object)
    out.columns = names
    out.attrs["numeric"] = [n for n, c in zip(names, frame.columns) if _is_numeric(frame[c])]
    return out


def _flat_name(col) -> str:
    if isinstance(col, tuple):
        return " / ".join(str(c) for c in col if str(c) != "")
    return str(col)


def _is_numeric(col) -> bool:
    if isinstance(col, pd.DataFrame):  # duplicated column names
        return False
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _format_cell(value, digits: int) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        x = float(value)
        if math.isnan(x):
            return ""
        if math.isinf(x):
            return "Inf" if x > 0 else "-Inf"
        text = f"{x:.{digits}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------- table writers


def write_table(
    df: pd.DataFrame,
    stem,
    *,
    digits: int = 3,
    index: bool | None = None,
    caption: str | None = None,
    display=None,
    config: Mapping | None = None,
) -> list[Path]:
    """Write one table as CSV, Markdown, LaTeX and HTML, byte-deterministically.

    The CSV keeps the raw column names and numbers (see :func:`format_table`): it is the
    machine-readable copy, read back by the disclosure audit. Markdown, LaTeX (``booktabs``, in a
    ``table`` float) and HTML (a small complete page with inline CSS) are the formatted renderings
    of one display definition (:class:`mheval.report.tables.Display`): labels, estimates with their
    intervals in one cell, decimals per measure, "—" for suppressed cells and notes under the table.
    Protect the table first (:func:`mheval.disclosure.protect`).

    Parameters
    ----------
    df : pandas.DataFrame
        Table to write.
    stem : str or path
        Output path without suffix; parent directories are created. Its name is the table's name.
    digits : int, default 3
        Decimals for non-integral numbers in the CSV.
    index : bool, optional
        As in :func:`format_table`.
    caption : str, optional
        Caption of the formatted renderings (default: the display's).
    display : Display, optional
        The display definition; default :func:`mheval.report.tables.results_display` for the
        table's name.
    config : dict, optional
        The run's config, for the default display's notes (interval level, cell-size rule, source).

    Returns
    -------
    list of pathlib.Path
        The ``.csv``, ``.md``, ``.tex`` and ``.html`` files written, in that order.
    """
    from mheval.report.tables import render_html, render_latex, render_markdown, results_display

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    table = format_table(df, digits=digits, index=index)
    raw = df.reset_index() if (index if index is not None else not (
        isinstance(df.index, pd.RangeIndex) and all(n is None for n in df.index.names))) else df.reset_index(drop=True)
    raw.columns = list(table.columns)
    display = display or results_display(stem.name, raw, config, caption=caption)
    texts = {
        ".csv": table.to_csv(index=False, lineterminator="\n"),
        ".md": render_markdown(raw, display),
        ".tex": render_latex(raw, display),
        ".html": _html_page(display.caption or stem.name, render_html(raw, display)),
    }
    paths = []
    for suffix, text in texts.items():
        path = stem.with_name(stem.name + suffix)
        path.write_bytes(text.encode("utf-8"))
        paths.append(path)
    return paths


def _html_table(table: pd.DataFrame, caption: str | None = None) -> str:
    esc = html.escape
    numeric = set(table.attrs.get("numeric", []))
    klass = [' class="num"' if c in numeric else "" for c in table.columns]
    lines = ["<table>"]
    if caption:
        lines.append(f"<caption>{esc(caption)}</caption>")
    head = "".join(f"<th{k}>{esc(c)}</th>" for c, k in zip(table.columns, klass))
    lines.append(f"<thead><tr>{head}</tr></thead>")
    lines.append("<tbody>")
    for row in table.itertuples(index=False):
        lines.append("<tr>" + "".join(f"<td{k}>{esc(v)}</td>" for v, k in zip(row, klass)) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines)


def _html_page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html.escape(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- report


def build_html_report(title: str, sections: Sequence[Mapping], *, metadata: Mapping | None = None) -> str:
    """Build one self-contained HTML page: inline CSS, figures as base64 data URIs, no scripts.

    Parameters
    ----------
    title : str
        Page title and top heading.
    sections : sequence of dict
        Each with ``"heading"`` (str) and optionally ``"text"`` (plain text;
        paragraphs separated by blank lines; HTML-escaped), ``"tables"`` (list of
        DataFrame or ``(caption, DataFrame)``, formatted with :func:`format_table`, or
        ``(DataFrame, Display[, rows])`` rendered by its display definition, see
        :mod:`mheval.report.tables`)
        and ``"figures"`` (list of image path or ``(caption, path)``; PNG, JPEG or
        SVG). Tables must already be suppressed.
    metadata : dict, optional
        Rendered in a final "Provenance" section, in the given order: short values
        in a table, text that is long or multi-line (e.g. config YAML) in ``<pre>``,
        nested dicts (e.g. :func:`software_versions`) as their own table.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    FileNotFoundError
        If a figure file does not exist.
    ValueError
        If a figure has an unsupported type.
    """
    esc = html.escape
    parts = [f"<h1>{esc(title)}</h1>"]
    headings = [str(s.get("heading", "")) for s in sections] + (["Provenance"] if metadata else [])
    if len(headings) > 1:
        items = "".join(f'<li><a href="#section-{i}">{esc(h)}</a></li>' for i, h in enumerate(headings, 1))
        parts.append(f"<nav><ol>{items}</ol></nav>")
    for i, section in enumerate(sections, 1):
        parts.append(f'<section id="section-{i}">\n<h2>{esc(str(section.get("heading", "")))}</h2>')
        parts += _paragraphs(section.get("text", ""))
        for item in section.get("tables", []) or []:
            parts.append(_report_table(item))
        for item in section.get("figures", []) or []:
            caption, path = item if isinstance(item, tuple) else (None, item)
            parts.append(_figure(Path(path), caption))
        parts.append("</section>")
    if metadata:
        parts.append(f'<section id="section-{len(headings)}">\n<h2>Provenance</h2>')
        parts.append(_provenance(metadata))
        parts.append("</section>")
    return _html_page(title, "\n".join(parts))


def _report_table(item) -> str:
    """One report table: a DataFrame or ``(caption, DataFrame)`` as plain text cells, or
    ``(DataFrame, Display)`` / ``(DataFrame, Display, rows)`` formatted by its display definition
    (:func:`mheval.report.tables.render_html`: caption, notes, sideways scrolling in its own box)."""
    from mheval.report.tables import Display, render_html

    if isinstance(item, tuple) and len(item) >= 2 and isinstance(item[1], Display):
        return render_html(item[0], item[1], rows=item[2] if len(item) > 2 else None)
    caption, df = item if isinstance(item, tuple) else (None, item)
    return f'<div class="table-wrap">\n{_html_table(format_table(df), caption)}\n</div>'


def _paragraphs(text) -> list[str]:
    blocks = [b.strip() for b in str(text or "").replace("\r\n", "\n").split("\n\n")]
    return [f"<p>{html.escape(' '.join(b.split()))}</p>" for b in blocks if b]


def _figure(path: Path, caption: str | None) -> str:
    mime = _IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"unsupported figure type {path.suffix!r} ({path}); use PNG, JPEG or SVG")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(caption or path.stem, quote=True)
    cap = f"\n<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure>\n<img alt="{alt}" src="data:{mime};base64,{data}">{cap}\n</figure>'


def _provenance(metadata: Mapping) -> str:
    esc = html.escape
    rows, blocks = [], []
    for key, value in metadata.items():
        if isinstance(value, Mapping):
            frame = pd.DataFrame({"name": [str(k) for k in value], "value": [str(v) for v in value.values()]})
            blocks.append(_html_table(format_table(frame), str(key)))
        elif isinstance(value, str) and ("\n" in value or len(value) > _LONG_TEXT):
            blocks.append(f"<h3>{esc(str(key))}</h3>\n<pre>{esc(value.rstrip())}</pre>")
        else:
            rows.append(f"<tr><th>{esc(str(key))}</th><td>{esc(str(value))}</td></tr>")
    table = ["<table>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"] if rows else []
    return "\n".join(table + blocks)


def software_versions(packages: Sequence[str] = DEFAULT_PACKAGES) -> dict[str, str]:
    """Report the Python version and installed versions of packages, without importing them.

    Parameters
    ----------
    packages : sequence of str
        Distribution names.

    Returns
    -------
    dict
        ``"python"`` first, then each package name mapped to its version or
        ``"not installed"``. ``mheval`` run from a source tree without installed
        metadata reports ``mheval.__version__``.
    """
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
            if name == "mheval":
                from mheval import __version__

                versions[name] = __version__
    return versions
