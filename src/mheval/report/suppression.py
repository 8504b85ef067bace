"""CMS cell-size suppression for published tables, and a pre-publication audit.

CMS policy for published Medicare data: no cell may show a count from 1 to 10
(``0 < n < min_cell`` with ``min_cell = 11``), and nothing published may let such
a count be derived. Zero is allowed. This module

- suppresses small counts in a table, with complementary suppression so that a
  suppressed cell cannot be recovered by subtraction from a row or column total
  (:func:`suppress_small_cells`);
- lists small counts and derivable suppressed cells (:func:`find_small_counts`,
  :func:`find_recoverable_cells`);
- audits files about to be published for small counts and beneficiary/provider
  identifiers (:func:`check_published_outputs`, :func:`assert_publishable`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_IDENTIFIER_COLUMNS",
    "DEFAULT_IDENTIFIER_PATTERNS",
    "PublicationError",
    "assert_publishable",
    "check_published_outputs",
    "find_recoverable_cells",
    "find_small_counts",
    "is_count_column",
    "suppress_small_cells",
]

DEFAULT_IDENTIFIER_COLUMNS = ("BENE_ID", "HICN", "NPI", "TIN", "PRF_PHYSN_NPI", "ORG_NPI_NUM")

# A number must stand alone: not part of a longer alphanumeric token and not the
# integer part of a decimal (so 1234567890.12 dollars is not an NPI).
_ALONE_BEFORE = r"(?<![A-Za-z0-9.])"
_ALONE_AFTER = r"(?![A-Za-z0-9]|\.\d)"
DEFAULT_IDENTIFIER_PATTERNS = {
    "NPI-like 10-digit number": _ALONE_BEFORE + r"\d{10}" + _ALONE_AFTER,
    "BENE_ID-like identifier": _ALONE_BEFORE + r"B\d{9,}" + _ALONE_AFTER,
    "TIN-like 9-digit number": _ALONE_BEFORE + r"(?:\d{9}|\d{2}-\d{7})" + _ALONE_AFTER,
}

_TEXT_SUFFIXES = (".md", ".html", ".htm")
_SCANNED_SUFFIXES = (".csv",) + _TEXT_SUFFIXES
_COUNT_LAST_TOKENS = {"n", "count", "events"}
_SMALL_INT = re.compile(r"^\s*(\d+)(?:\.0+)?(?:\s*\(.*\))?\s*$")
_DATA_URI = re.compile(r"data:[A-Za-z0-9.+/-]+;base64,[A-Za-z0-9+/=\s]*")


class PublicationError(ValueError):
    """Raised when files meant for publication break the suppression or identifier rules.

    Attributes
    ----------
    problems : list of str
        Every problem found, one string each.
    """

    def __init__(self, message: str, problems: Sequence[str]):
        super().__init__(message)
        self.problems = list(problems)


# --------------------------------------------------------------------------- suppression


def suppress_small_cells(
    df: pd.DataFrame,
    count_cols: Sequence[str],
    *,
    min_cell: int = 11,
    row_total_col: str | None = None,
    total_row_label=None,
    label_col: str | None = None,
    marker: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Apply CMS cell-size suppression, with complementary suppression, to a table.

    Counts from 1 to ``min_cell - 1`` are hidden, zeros are shown, and further
    cells are hidden so that no hidden count can be derived from row or column
    totals; the rule is given in the Notes.

    Parameters
    ----------
    df : pandas.DataFrame
        Table to publish. Not modified.
    count_cols : sequence of str
        Columns holding counts (non-negative numbers).
    min_cell : int, default 11
        Smallest count that may be shown; counts ``1 .. min_cell - 1`` are hidden.
    row_total_col : str, optional
        Column holding, for each row, the total of ``count_cols`` in that row.
    total_row_label : object, optional
        Label of the row holding column totals (of all other rows).
    label_col : str, optional
        Column where ``total_row_label`` is looked up; if omitted, the index is used.
    marker : str, optional
        Text shown in place of suppressed counts (e.g. ``"<11"`` or ``"*"``). Without
        it, suppressed cells are ``pd.NA`` and the affected columns are nullable
        ``Int64`` (``Float64`` if a count is not integral); with it, they are object
        columns holding ints and the marker.

    Returns
    -------
    suppressed : pandas.DataFrame
        Copy of ``df`` with suppressed cells hidden.
    n_suppressed : int
        Number of cells hidden by this call (primary plus complementary).

    Raises
    ------
    ValueError
        If a column is missing, a count column is not numeric, or the total row
        label is absent or repeated.

    Notes
    -----
    The suppression rule:

    1. Primary: every count ``v`` in ``count_cols`` (and in ``row_total_col`` and the
       total row, which are counts too) with ``0 < v < min_cell`` -- 1 to 10 under
       the CMS default -- is suppressed. Zero is never suppressed primarily.
    2. Complementary, by line: a *line* is a row whose total sits in
       ``row_total_col``, or a column whose total sits in the total row. Whenever a
       line with a shown total has exactly one hidden cell and that cell was
       suppressed by this function, another non-zero shown count of the line is
       also suppressed (if there is none, the line total): preferably one whose
       crossing line already hides a cell (so no new line is exposed), then the
       smallest, then the first in table order. Repeated until no line changes,
       since a suppression in a row can expose a column and vice versa.
    3. Complementary, global: the lines form a linear system; a suppressed cell can
       still be derivable through a chain of lines even when every line hides two
       cells. Each suppressed cell is tested for exact recoverability
       (:func:`find_recoverable_cells`); while one is recoverable, a non-zero shown
       count sharing a line with it (else anywhere), chosen as in step 2, is
       suppressed and step 2 is repeated.
    4. Pruning: complementary cells are tried, largest first, and shown again
       when no suppressed cell becomes recoverable without them.

    Cells that are already missing in ``df`` are treated as unknown to a reader;
    they are neither protected nor counted in ``n_suppressed``. Totals are assumed
    to be the sums of the shown cells (if they cover more, the rule is
    conservative). A frame that stacks several independent blocks with their own
    totals should be suppressed block by block.
    """
    cols, total_pos = _grid_layout(df, count_cols, row_total_col, total_row_label, label_col)
    values = _numeric_grid(df, cols)
    constraints = _constraints(len(df), len(count_cols), row_total_col is not None, total_pos)
    suppressed = _suppression_mask(values, constraints, min_cell)

    out = df.copy()
    for j, col in enumerate(cols):
        out[col] = _rebuild_column(values[:, j], suppressed[:, j], marker, df.index)
    return out, int(suppressed.sum())


def find_small_counts(df: pd.DataFrame, count_cols: Sequence[str], min_cell: int = 11) -> pd.DataFrame:
    """List the counts that CMS policy forbids publishing.

    Parameters
    ----------
    df : pandas.DataFrame
        Table to inspect.
    count_cols : sequence of str
        Columns holding counts.
    min_cell : int, default 11
        Smallest count that may be shown.

    Returns
    -------
    pandas.DataFrame
        One row per offending cell, columns ``row`` (index label), ``column`` and
        ``value``, in table order. Empty if there are none. Missing values and
        zeros are not offending.
    """
    values = _numeric_grid(df, list(count_cols))
    small = (values > 0) & (values < min_cell)
    rows, cols = np.nonzero(small)
    return pd.DataFrame(
        {
            "row": [df.index[i] for i in rows],
            "column": [count_cols[j] for j in cols],
            "value": [_as_number(values[i, j]) for i, j in zip(rows, cols)],
        },
        columns=["row", "column", "value"],
    )


def find_recoverable_cells(
    df: pd.DataFrame,
    count_cols: Sequence[str],
    *,
    row_total_col: str | None = None,
    total_row_label=None,
    label_col: str | None = None,
) -> list[tuple[object, str]]:
    """Find hidden cells whose exact value can be derived from the shown cells and totals.

    A hidden cell is missing or non-numeric (e.g. a suppression marker). The row
    totals and the total row (same meaning as in :func:`suppress_small_cells`) give
    linear equations; a hidden cell is recoverable when its value is fixed by them,
    i.e. its unit vector lies in the row space of the equations restricted to the
    hidden cells.

    Parameters
    ----------
    df : pandas.DataFrame
        Published (already suppressed) table.
    count_cols : sequence of str
        Columns holding counts.
    row_total_col, total_row_label, label_col
        As in :func:`suppress_small_cells`.

    Returns
    -------
    list of (row label, column name)
        Recoverable hidden cells in table order; empty when the table is safe.
    """
    cols, total_pos = _grid_layout(df, count_cols, row_total_col, total_row_label, label_col)
    shown = df[cols].apply(pd.to_numeric, errors="coerce")
    values = shown.to_numpy(dtype=float, na_value=np.nan).reshape(len(df), len(cols))
    constraints = _constraints(len(df), len(count_cols), row_total_col is not None, total_pos)
    hidden = np.isnan(values)
    found = _recoverable(hidden, constraints)
    return [(df.index[i], cols[j]) for i, j in found]


# --------------------------------------------------------------------------- internals


def _grid_layout(df, count_cols, row_total_col, total_row_label, label_col):
    """Columns forming the grid and position of the total row (or None)."""
    count_cols = list(count_cols)
    if not count_cols:
        raise ValueError("count_cols is empty")
    cols = count_cols + ([row_total_col] if row_total_col is not None else [])
    missing = [c for c in cols + ([label_col] if label_col else []) if c not in df.columns]
    if missing:
        raise ValueError(f"columns not in table: {missing}")
    if len(set(cols)) != len(cols):
        raise ValueError("row_total_col must not be one of count_cols, and count_cols must be unique")
    if label_col is None and total_row_label is None:
        return cols, None
    if total_row_label is None:
        raise ValueError("label_col given without total_row_label")
    labels = df[label_col] if label_col is not None else pd.Series(df.index, index=df.index)
    hits = np.flatnonzero((labels == total_row_label).to_numpy())
    if len(hits) != 1:
        raise ValueError(f"expected exactly one total row labelled {total_row_label!r}, found {len(hits)}")
    return cols, int(hits[0])


def _numeric_grid(df, cols):
    """Float array (rows x cols) of the count cells; NaN where missing."""
    arrays = []
    for c in cols:
        try:
            num = pd.to_numeric(df[c], errors="raise")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"count column {c!r} is not numeric: {exc}") from None
        arrays.append(num.to_numpy(dtype=float, na_value=np.nan))
    return np.column_stack(arrays) if arrays and len(df) else np.empty((len(df), len(cols)))


def _constraints(n_rows, n_counts, has_row_total, total_pos):
    """Lines of the table as (member cells, total cell) with cells as (row, col) positions."""
    lines = []
    if has_row_total:
        for r in range(n_rows):
            lines.append(([(r, c) for c in range(n_counts)], (r, n_counts)))
    if total_pos is not None:
        for c in range(n_counts + int(has_row_total)):
            members = [(r, c) for r in range(n_rows) if r != total_pos]
            lines.append((members, (total_pos, c)))
    return lines


def _suppression_mask(values, constraints, min_cell):
    """Boolean mask of cells to suppress (primary + complementary)."""
    primary = (values > 0) & (values < min_cell)
    suppressed = primary.copy()
    hidden = suppressed | np.isnan(values)
    lines_of: dict[tuple[int, int], list[list[tuple[int, int]]]] = {}
    for members, total in constraints:
        for cell in members + [total]:
            lines_of.setdefault(cell, []).append(members + [total])

    def exposes(cell):  # lines that hiding `cell` would leave with exactly one hidden cell
        return sum(not any(hidden[c] for c in line) for line in lines_of.get(cell, []))

    def smallest(cells):
        cands = [c for c in cells if not hidden[c] and values[c] > 0]
        return min(cands, key=lambda c: (exposes(c), values[c], c)) if cands else None

    def hide(cell):
        suppressed[cell] = hidden[cell] = True

    while True:
        changed = True
        while changed:  # step 2: line rule to a fixed point
            changed = False
            for members, total in constraints:
                hid = [c for c in members + [total] if hidden[c]]
                if len(hid) == 1 and suppressed[hid[0]]:
                    pick = smallest(members) or smallest([total])
                    if pick is not None:
                        hide(pick)
                        changed = True
        leaks = [cell for cell in _recoverable(hidden, constraints) if suppressed[cell]]
        if not leaks:
            return _prune(values, primary, suppressed, hidden, constraints)
        near = [c for line in lines_of.get(leaks[0], []) for c in line]  # step 3
        pick = smallest(near) or smallest([tuple(int(x) for x in ij) for ij in np.argwhere(~hidden)])
        if pick is None:
            return suppressed
        hide(pick)


def _prune(values, primary, suppressed, hidden, constraints):
    """Step 4: show again complementary cells, largest first, that are not needed."""
    extra = [tuple(int(x) for x in ij) for ij in np.argwhere(suppressed & ~primary)]
    for cell in sorted(extra, key=lambda c: (-values[c], c)):
        suppressed[cell] = hidden[cell] = False
        if any(suppressed[c] for c in _recoverable(hidden, constraints)):
            suppressed[cell] = hidden[cell] = True
    return suppressed


def _recoverable(hidden, constraints):
    """Hidden cells whose value is fixed by the line equations, in table order."""
    cells = [tuple(int(x) for x in ij) for ij in np.argwhere(hidden)]
    if not cells or not constraints:
        return []
    col_of = {cell: k for k, cell in enumerate(cells)}
    rows = []
    for members, total in constraints:
        row = np.zeros(len(cells))
        for cell, coef in [(m, 1.0) for m in members] + [(total, -1.0)]:
            if cell in col_of:
                row[col_of[cell]] = coef
        if row.any():
            rows.append(row)
    if not rows:
        return []
    _, s, vt = np.linalg.svd(np.vstack(rows), full_matrices=False)
    rank = int((s > 1e-9 * max(1.0, s[0])).sum())
    # projection of e_j onto the row space has squared norm sum_k vt[k, j]^2
    weight = (vt[:rank] ** 2).sum(axis=0)
    return [cells[k] for k in np.flatnonzero(weight > 1 - 1e-9)]


def _as_number(x):
    return int(x) if float(x).is_integer() else float(x)


def _rebuild_column(values, mask, marker, index):
    """Column with masked cells hidden, as nullable Int64/Float64 or object with marker."""
    integral = bool(np.all(np.isnan(values) | (values == np.round(values))))
    if marker is None:
        col = pd.array(np.where(mask, np.nan, values), dtype="Float64")  # NaN -> <NA>
        return pd.Series(col.astype("Int64") if integral else col, index=index)
    cells = [
        marker if m else (pd.NA if np.isnan(v) else (int(v) if integral else float(v)))
        for v, m in zip(values, mask)
    ]
    return pd.Series(cells, index=index, dtype=object)


# --------------------------------------------------------------------------- publication audit


def is_count_column(name: object) -> bool:
    """Tell whether a column name marks a count under the project's naming convention.

    The name is lower-cased and split into tokens on anything that is not a letter
    or digit. It is a count column when the first token is ``n`` (``n``,
    ``n_events``, ``N treated``) or the last token is ``n``, ``count`` or
    ``events`` (``bene_n``, ``count``, ``claim_count``, ``Events``).

    Parameters
    ----------
    name : object
        Column name.

    Returns
    -------
    bool
    """
    tokens = [t for t in re.split(r"[^a-z0-9]+", str(name).lower()) if t]
    return bool(tokens) and (tokens[0] == "n" or tokens[-1] in _COUNT_LAST_TOKENS)


def check_published_outputs(
    paths,
    *,
    min_cell: int = 11,
    identifier_columns: Iterable[str] = DEFAULT_IDENTIFIER_COLUMNS,
    identifier_patterns: Mapping[str, str] | Iterable[str] = DEFAULT_IDENTIFIER_PATTERNS,
) -> list[str]:
    """Audit files meant for publication for small counts and identifiers.

    Checks, for each CSV file:

    (a) a count column (see :func:`is_count_column`) holding an integer from 1 to
        ``min_cell - 1`` (also ``"3 (4.5%)"`` style cells);
    (b) a column named like an identifier (``identifier_columns``, case-insensitive);
    (c) a header or cell matching an identifier pattern (10-digit NPI-like numbers,
        ``B`` followed by 9+ digits as BENE_ID, 9-digit or ``12-3456789`` TINs;
        numbers inside longer tokens or with decimals do not match).

    For Markdown and HTML files the text is scanned for (c); base64 data URIs
    (embedded figures) are skipped. Problem strings give the place, never the
    offending value, so they are safe to log.

    Parameters
    ----------
    paths : path or iterable of paths
        Files, or directories searched recursively for ``*.csv``, ``*.md``,
        ``*.html``, ``*.htm``. Other files named explicitly are scanned as text.
    min_cell : int, default 11
        Smallest count that may be shown.
    identifier_columns : iterable of str
        Column names that must not appear.
    identifier_patterns : mapping of name to regex, or iterable of regex
        Patterns that must not match any cell or text.

    Returns
    -------
    list of str
        One string per problem, ``"<file>: <what>"``; empty when all is clean.
    """
    patterns = _compile_patterns(identifier_patterns)
    id_cols = {str(c).lower() for c in identifier_columns}
    problems: list[str] = []
    for path in _expand(paths, problems):
        if path.suffix.lower() == ".csv":
            problems += _check_csv(path, min_cell, id_cols, patterns)
        else:
            problems += _check_text(path, patterns)
    return problems


def assert_publishable(paths, *, max_examples: int = 5, **kwargs) -> None:
    """Raise if any file meant for publication fails :func:`check_published_outputs`.

    Parameters
    ----------
    paths : path or iterable of paths
        As in :func:`check_published_outputs`.
    max_examples : int, default 5
        Number of problems quoted in the message.
    **kwargs
        Passed to :func:`check_published_outputs`.

    Raises
    ------
    PublicationError
        Listing the total number of problems and the first ``max_examples``; the
        full list is in its ``problems`` attribute.
    """
    problems = check_published_outputs(paths, **kwargs)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:max_examples])
        more = len(problems) - max_examples
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise PublicationError(
            f"{len(problems)} publication problem(s): outputs must not show counts of 1 to "
            f"{kwargs.get('min_cell', 11) - 1} or identifiers.\n{shown}{tail}",
            problems,
        )


def _compile_patterns(patterns):
    items = patterns.items() if isinstance(patterns, Mapping) else ((p, p) for p in patterns)
    return [(name, re.compile(rx)) for name, rx in items]


def _expand(paths, problems):
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in _SCANNED_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: does not exist")
    return files


def _check_csv(path, min_cell, id_cols, patterns):
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError:
        return []
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot be read as CSV ({type(exc).__name__})"]
    out = []
    for col in table.columns:
        if str(col).lower() in id_cols:
            out.append(f"{path}: identifier column {col!r}")
        out += [f"{path}: column name {col!r} matches {name}" for name, rx in patterns if rx.search(str(col))]
        cells = table[col].astype(str)
        if is_count_column(col):
            for i, cell in enumerate(cells):
                m = _SMALL_INT.match(cell)
                if m and 0 < int(m.group(1)) < min_cell:
                    where = f"count column {col!r}, data row {i + 1}"
                    out.append(f"{path}: {where}: count from 1 to {min_cell - 1}")
        for name, rx in patterns:
            for i in np.flatnonzero(cells.str.contains(rx).to_numpy()):
                out.append(f"{path}: column {col!r}, data row {i + 1}: matches {name}")
    return out


def _check_text(path, patterns):
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm"):
        text = _DATA_URI.sub(lambda m: "data:" + "\n" * m.group(0).count("\n"), text)
    out = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        out += [f"{path}: line {lineno}: matches {name}" for name, rx in patterns if rx.search(line)]
    return out
