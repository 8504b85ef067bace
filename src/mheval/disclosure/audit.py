"""The publication audit: read every published file back, rebuild the relations, attack every
suppressed and implicit count, and look for identifiers.

The audit does not use the suppression's internals: it reads the numbers shown in the files
themselves (CSV, Markdown, LaTeX, HTML tables and text, the report, SVG text, notebook outputs),
takes for each table the union of what its formats show (the most precise number of any format;
a cell blank in one format and shown in another counts as shown), declares the relations from
the tables' labels (:mod:`mheval.disclosure.layouts`) and attacks them by linear programming.
"""

from __future__ import annotations

import html as html_lib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

from mheval.disclosure.layouts import declare
from mheval.disclosure.model import DisclosureError, Rule, feasible_ranges
from mheval.disclosure.protect import parse_cell, shown_cells

__all__ = ["IDENTIFIER_COLUMNS", "IDENTIFIER_PATTERNS", "AuditResult", "audit", "read_published"]

IDENTIFIER_COLUMNS = ("BENE_ID", "HICN", "MBI", "NPI", "TIN", "PRF_PHYSN_NPI", "ORG_NPI_NUM", "BENE_BIRTH_DT",
                      "BIRTH_DT", "DOB", "BENE_MBI_ID", "TAX_NUM")
_ALONE_BEFORE = r"(?<![A-Za-z0-9.])"
_ALONE_AFTER = r"(?![A-Za-z0-9]|\.\d)"
IDENTIFIER_PATTERNS = {
    "NPI-like 10-digit number": _ALONE_BEFORE + r"\d{10}" + _ALONE_AFTER,
    "BENE_ID-like identifier": _ALONE_BEFORE + r"B\d{9,}" + _ALONE_AFTER,
    "TIN-like 9-digit number": _ALONE_BEFORE + r"(?:\d{9}|\d{2}-\d{7})" + _ALONE_AFTER,
    # CMS's MBI: C A AN N A AN N A A N N, letters without S L O I B Z
    "MBI-like identifier": _ALONE_BEFORE + r"[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y]"
                           r"[AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y]{2}\d{2}" + _ALONE_AFTER,
    "HICN-like identifier": _ALONE_BEFORE + r"\d{9}[A-Z][A-Z0-9]?" + _ALONE_AFTER,
    # a full date in a birth year of Medicare beneficiaries (study dates are 2000 or later)
    "birth-date-like date": _ALONE_BEFORE + r"(?:19[0-8]\d-[01]\d-[0-3]\d|[01]?\d/[0-3]?\d/19[0-8]\d)" + _ALONE_AFTER,
}
_COUNT_NOUNS = (r"beneficiar(?:y|ies)|enrollees?|organi[sz]ations?|practices?|events?|deaths?|people|persons?|"
                r"patients?|strokes?|heart attacks?|hospitali[sz]ations?|cases?|respondents?")
# "3 beneficiaries", "n = 3", "N=3"; thresholds ("fewer than 11", "at least 5 organizations") are not counts
_PROSE_COUNT = re.compile(r"(?<![\w.,-])(\d[\d,]*)(?![\d.,]\d|\w)\s+(?:" + _COUNT_NOUNS + r")\b"
                          r"|\b[nN]\s*=\s*(\d[\d,]*)(?![\d.,]\d|\w)", re.I)
_THRESHOLD = re.compile(r"(?:than|least|most|minimum|min|maximum|max|below|above|under|over)\s*$", re.I)
_FLOW_BOX = re.compile(r"Intervention\s+(\S+)\s+\|\s+Control\s+(\S+)\s+\|\s+Total\s+(\S+)")
_DATA_URI = re.compile(r"data:[A-Za-z0-9.+/-]+;base64,[A-Za-z0-9+/=\s]*")
KEY_ATTRIBUTE = "data-mheval"  # a rendering's key (mheval.report.tables): which raw columns each cell shows
_MD_KEY = re.compile(r"<!--\s*mheval-table:\s*(\{.*\})\s*-->")
_TEX_KEY = re.compile(r"%\s*mheval-table:\s*(\{.*\})")
_TEX_MULTICOLUMN = re.compile(r"\\multicolumn\{(\d+)\}\{[^}]*\}\{(.*)\}")
TABLE_SUFFIXES = (".csv", ".md", ".tex", ".html", ".htm")
READ_SUFFIXES = TABLE_SUFFIXES + (".svg", ".ipynb", ".txt", ".json")


@dataclass
class AuditResult:
    """What :func:`audit` found.

    Attributes
    ----------
    problems : list of str
        ``"<file(s)>: <cell>: <what>"``, never the offending value; empty when everything passes.
    files : list of str
        Every file read.
    tables : dict of str to DataFrame
        Each table as a reader can assemble it from all its formats (text cells).
    attacked : int
        Suppressed or implicit counts attacked by linear programming.
    suppressed_cells : int
        Cells of declared tables shown in no format.
    """

    problems: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    attacked: int = 0
    suppressed_cells: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self, max_examples: int = 10) -> None:
        """Raise :class:`DisclosureError` listing the first problems when there are any."""
        if self.problems:
            shown = "\n".join(f"  - {p}" for p in self.problems[:max_examples])
            more = len(self.problems) - max_examples
            raise DisclosureError(f"{len(self.problems)} publication problem(s): published files must not show "
                                  "or let a reader derive a count from 1 to 10, nor identifiers.\n" + shown
                                  + (f"\n  ... and {more} more" if more > 0 else ""), self.problems)

    def text(self) -> str:
        """A short plain-text report."""
        head = ("publication audit passed" if self.ok else f"publication audit FAILED: {len(self.problems)} problem(s)")
        return "\n".join([head, f"files read: {len(self.files)}", f"tables: {len(self.tables)}",
                          f"suppressed cells: {self.suppressed_cells}",
                          f"suppressed or implicit counts attacked by linear programming: {self.attacked}"]
                         + [f"- {p}" for p in self.problems] + [f"  {f}" for f in self.files]) + "\n"


# --------------------------------------------------------------------------- readers


class _HTMLReader(HTMLParser):
    """Tables (caption, header, rows, key) and the text outside them. Header rows (in ``<thead>``)
    are joined into one header, a cell spanning ``colspan`` columns counted once per column."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables, self.text = [], []
        self._table = self._row = self._cell = None
        self._skip = 0
        self._span = 1
        self._head = False

    def handle_starttag(self, tag, attrs):
        attrs_d = dict(attrs)
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "table":
            self._table = {"caption": "", "rows": [], "head": [], "key": attrs_d.get(KEY_ATTRIBUTE)}
        elif tag == "thead" and self._table is not None:
            self._head = True
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
            try:
                self._span = max(1, int(attrs_d.get("colspan") or 1))
            except ValueError:
                self._span = 1
        elif tag == "caption" and self._table is not None:
            self._cell = []
        for name, value in attrs:
            if name in ("alt", "title") and value:
                self.text.append(value)

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1
        elif tag == "thead":
            self._head = False
        elif tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row += ["".join(self._cell).strip()] * self._span
            self._cell, self._span = None, 1
        elif tag == "caption" and self._table is not None and self._cell is not None:
            self._table["caption"] = "".join(self._cell).strip()
            self.text.append(self._table["caption"])
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row is not None:
            self._table["head" if self._head else "rows"].append(self._row)
            self._row = None
        elif tag == "table" and self._table is not None:
            if self._table["head"]:
                self._table["rows"] = [_joined_header(self._table["head"])] + self._table["rows"]
            self.tables.append(self._table)
            self._table = None

    def handle_data(self, data):
        if self._skip:
            return
        if self._cell is not None:
            self._cell.append(data)
        elif self._table is None:
            self.text.append(data)


def _joined_header(rows: list[list[str]]) -> list[str]:
    """Header rows as one row: "Intervention / Events" for a two-level header."""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    return [" / ".join(p for p in parts if p) for parts in zip(*rows)]


def _frame(rows: list[list[str]]) -> pd.DataFrame | None:
    if len(rows) < 1 or not rows[0]:
        return None
    header, body = rows[0], [r + [""] * (len(rows[0]) - len(r)) for r in rows[1:]]
    return pd.DataFrame([r[:len(header)] for r in body], columns=header, dtype=object)


def _keyed(frame: pd.DataFrame | None, key: str | None) -> pd.DataFrame | None:
    """Attach a rendering's key (which raw columns each displayed column shows: see
    :mod:`mheval.report.tables`) to its frame, in ``attrs["key"]``."""
    if frame is not None and key:
        try:
            frame.attrs["key"] = json.loads(key)
        except json.JSONDecodeError:
            frame.attrs["key"] = {"invalid": key}
    return frame


def _html(text: str):
    reader = _HTMLReader()
    reader.feed(_DATA_URI.sub("data:", text))
    tables = [(t["caption"], _keyed(_frame(t["rows"]), t["key"])) for t in reader.tables]
    return [(c, f) for c, f in tables if f is not None], "\n".join(reader.text)


def _markdown(text: str):
    tables, prose, block, key = [], [], [], None

    def cells(line):
        parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        return [p.strip().replace("\\|", "|").replace("\\\\", "\\") for p in parts]

    for line in text.splitlines() + [""]:
        if line.strip().startswith("|"):
            block.append(line)
            continue
        if block:
            rows = [cells(b) for b in block if not re.fullmatch(r"\|[\s:|-]+\|", b.strip())]
            f = _keyed(_frame(rows), key)
            if f is not None:
                tables.append(("", f))
            block, key = [], None
        m = _MD_KEY.fullmatch(line.strip())
        if m:
            key = m.group(1)
            continue
        prose.append(line)
    return tables, "\n".join(prose)


_TEX_UNESCAPE = [(r"\textbackslash{}", "\\"), (r"\textasciitilde{}", "~"), (r"\textasciicircum{}", "^"),
                 (r"\&", "&"), (r"\%", "%"), (r"\$", "$"), (r"\#", "#"), (r"\_", "_"), (r"\{", "{"), (r"\}", "}")]


def _latex(text: str):
    def cells(line):
        line = line.strip().removesuffix("\\\\").strip()
        out = []
        for part in re.split(r"(?<!\\)&", line):
            part = part.strip()
            m = _TEX_MULTICOLUMN.fullmatch(part)
            span, part = (int(m.group(1)), m.group(2)) if m else (1, part)
            for a, b in _TEX_UNESCAPE:
                part = part.replace(a, b)
            out += [part.strip()] * span
        return out

    tables, prose, rows, head, inside, key = [], [], [], [], False, None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("\\begin{tabular}"):
            inside, rows, head = True, [], []
        elif s.startswith("\\end{tabular}"):
            inside = False
            rows = ([_joined_header(head)] if len(head) > 1 else head) + rows  # lines above \midrule: one header
            f = _keyed(_frame(rows), key)
            key = None
            if f is not None:
                tables.append(("", f))
        elif inside and s == "\\midrule" and not head:
            head, rows = rows, []
        elif inside and (s in ("\\toprule", "\\midrule", "\\bottomrule") or s.startswith("\\cmidrule")):
            continue
        elif inside:
            rows.append(cells(s))
        elif _TEX_KEY.fullmatch(s):
            key = _TEX_KEY.fullmatch(s).group(1)
        elif not inside:
            prose.append(re.sub(r"\\[a-z]+(\[[^]]*\])?", " ", s).replace("{", " ").replace("}", " "))
    return tables, "\n".join(prose)


def _svg(text: str) -> str:
    parts = [html_lib.unescape(m) for m in re.findall(r"<text[^>]*>(.*?)</text>", text, re.S)]
    parts += [m.strip() for m in re.findall(r"<!--(.*?)-->", text, re.S)]
    return "\n".join(re.sub(r"<[^>]+>", "", p) for p in parts)


def read_published(path) -> tuple[list[tuple[str, pd.DataFrame]], str]:
    """The tables (caption, text frame) and the remaining text of one published file.

    CSV is one table; Markdown pipe tables, LaTeX ``tabular`` environments and HTML ``<table>``
    elements are tables, everything else in them is text (HTML without embedded base64 images);
    SVG gives the text of its ``<text>`` elements and the comments in which matplotlib writes each
    text drawn as paths; a notebook gives its Markdown, its outputs' text, HTML tables and SVG."""
    path = Path(path)
    suffix = path.suffix.lower()
    raw = path.read_text(encoding="utf-8", errors="replace")
    if suffix == ".csv":
        try:
            return [("", pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False))], ""
        except pd.errors.EmptyDataError:
            return [], ""
    if suffix == ".md":
        return _markdown(raw)
    if suffix == ".tex":
        return _latex(raw)
    if suffix in (".html", ".htm"):
        return _html(raw)
    if suffix == ".svg":
        return [], _svg(raw)
    if suffix == ".ipynb":
        tables, texts = [], []
        for cell in json.loads(raw).get("cells", []):
            if cell.get("cell_type") == "markdown":
                texts.append("".join(cell.get("source", [])))
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                texts.append("".join(out.get("text", [])) + "".join(data.get("text/plain", [])))
                if "text/html" in data:
                    t, x = _html("".join(data["text/html"]))
                    tables += t
                    texts.append(x)
                if "image/svg+xml" in data:
                    texts.append(_svg("".join(data["image/svg+xml"])))
        return tables, "\n".join(texts)
    return [], raw


# --------------------------------------------------------------------------- audit

_TOKEN = re.compile(r"(?P<bound>[<>]\s*)?(?<![\w.])(?P<num>-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?!\w)"
                    r"|(?P<dash>\u2014)")


def _cell_numbers(text: str) -> list[str] | None:
    """The numbers a formatted cell shows, in order ("" for "—" and for a bound like "<0.001", which
    shows no exact value); None when the cell is not made of numbers only (a label, a note)."""
    text = str(text).strip()
    tokens = list(_TOKEN.finditer(text))
    rest = _TOKEN.sub("", text).replace("(", "").replace(")", "").replace(",", "").replace("%", "").strip()
    if not tokens or rest:
        return None
    return ["" if m["dash"] or m["bound"] else m["num"].replace(",", "") for m in tokens]


def _unformat(where: str, df: pd.DataFrame, base: pd.DataFrame | None, problems: list[str]) -> pd.DataFrame | None:
    """A formatted rendering (with its key, see :mod:`mheval.report.tables`) read back into the raw
    columns it shows: each displayed cell's numbers go, in order, to the raw columns the key names;
    raw columns and rows it does not show are blank, text cells are kept as text."""
    key = df.attrs.get("key") or {}
    columns, rows = key.get("columns"), key.get("rows")
    if not isinstance(columns, list) or len(columns) != df.shape[1]:
        problems.append(f"{where}: its table key does not match its {df.shape[1]} columns")
        return None
    names = list(base.columns) if base is not None else list(dict.fromkeys(c for cs in columns for c in cs))
    n = len(base) if base is not None else (max(rows) + 1 if rows else len(df))
    rows = rows if rows is not None else list(range(len(df)))
    if len(rows) != len(df) or any(not 0 <= r < n for r in rows):
        problems.append(f"{where}: its table key names rows the table does not have")
        return None
    out = pd.DataFrame("", index=range(n), columns=names, dtype=object)
    for j, sources in enumerate(columns):
        missing = [c for c in sources if c not in out.columns]
        if missing:
            problems.append(f"{where}: column {j + 1} shows {missing}, not a column of the table")
            continue
        for i, r in enumerate(rows):
            cell = str(df.iat[i, j]).strip()
            numbers = _cell_numbers(cell)
            if numbers is None or not cell:
                if len(sources) == 1:
                    out.at[r, sources[0]] = cell
                elif cell:
                    problems.append(f"{where}: row {i + 1}, column {j + 1}: cannot be read as {len(sources)} numbers")
            elif len(numbers) == len(sources):
                for c, v in zip(sources, numbers):
                    out.at[r, c] = v
            else:
                problems.append(f"{where}: row {i + 1}, column {j + 1}: shows {len(numbers)} numbers for "
                                f"{len(sources)} columns")
    return out


def _merge(name: str, versions: list[tuple[str, pd.DataFrame]], problems: list[str]) -> pd.DataFrame:
    """One table from its formats: every cell shown by any format, at its most precise."""
    base_file, base = versions[0]
    merged = base.copy()
    for file, other in versions[1:]:
        if list(other.columns) != list(base.columns) or len(other) != len(base):
            problems.append(f"{file}: table does not match {base_file} (columns or rows differ)")
            continue
        for col in base.columns:
            for r in range(len(base)):
                a, b = parse_cell(merged.at[r, col]), parse_cell(other.at[r, col])
                if b is None:  # blank or text in this format: nothing more to read
                    continue
                if a is None:
                    merged.at[r, col] = other.at[r, col]
                    if str(base.at[r, col]).strip() == "":
                        problems.append(f"{file}: row {r + 1}, column {col!r}: shows a number that {base_file} "
                                        "leaves blank")
                elif abs(a[0] - b[0]) > 0.5 * 10.0 ** -min(a[1], b[1]) + 1e-9:
                    problems.append(f"{file}: row {r + 1}, column {col!r}: differs from {base_file}")
                elif b[1] > a[1]:
                    merged.at[r, col] = other.at[r, col]
    return merged


def _row_label(df: pd.DataFrame, r: int) -> str:
    texts = [str(df.iloc[r][c]).strip() for c in df.columns if parse_cell(df.iloc[r][c]) is None
             and str(df.iloc[r][c]).strip()]
    return " / ".join(texts[:3])


def _scan_text(where: str, text: str, problems: list[str], min_cell: int, counts: bool = True) -> None:
    for lineno, line in enumerate(text.splitlines(), start=1):
        for name, rx in IDENTIFIER_PATTERNS.items():
            if re.search(rx, line):
                problems.append(f"{where}: line {lineno}: matches {name}")
        for m in _PROSE_COUNT.finditer(line) if counts else ():
            n = int((m.group(1) or m.group(2)).replace(",", ""))
            if 0 < n < min_cell and not _THRESHOLD.search(line[:m.start()]):
                problems.append(f"{where}: line {lineno}: a count from 1 to {min_cell - 1} in the text")


def _scan_table(where: str, df: pd.DataFrame, problems: list[str], min_cell: int) -> None:
    ids = {c.lower() for c in IDENTIFIER_COLUMNS}
    for col in df.columns:
        for r, cell in enumerate(df[col].astype(str)):  # text cells ("3 beneficiaries", "n = 3")
            for m in _PROSE_COUNT.finditer(cell):
                n = int((m.group(1) or m.group(2)).replace(",", ""))
                if 0 < n < min_cell and not _THRESHOLD.search(cell[:m.start()]):
                    problems.append(f"{where}: row {r + 1}, column {col!r}: a count from 1 to {min_cell - 1} in the text")
        if str(col).strip().lower() in ids:
            problems.append(f"{where}: identifier column {col!r}")
        for name, rx in IDENTIFIER_PATTERNS.items():
            if re.search(rx, str(col)):
                problems.append(f"{where}: column name {col!r} matches {name}")
            hits = df[col].astype(str).str.contains(rx, regex=True)
            for r in hits[hits].index:
                problems.append(f"{where}: row {r + 1}, column {col!r}: matches {name}")


def audit(paths: Iterable, rule: Rule = Rule()) -> AuditResult:
    """Audit published files: small counts, counts derivable by linear programming, identifiers.

    Parameters
    ----------
    paths : iterable of paths
        Every published file (tables in any format, the report, figures' SVG, notebooks);
        directories are searched recursively. PNG and other binary files are skipped (their
        SVG twins carry the same text).
    rule : Rule
        The protection rule.

    Returns
    -------
    AuditResult
        Call :meth:`AuditResult.raise_if_failed` to fail a run.

    Notes
    -----
    A file's stem names its table (``tables/cohort_flow.md`` is the table ``cohort_flow``); a table
    in the report that has the columns of a named table is taken as one more format of it, the
    cohort-flow figure's boxes as one more format of the flow table's counts. Every shown count
    must be 0 or at least ``rule.min_cell``; every count shown in no format, and every implicit
    count, must satisfy ``rule`` under the LP attack over all tables together.
    """
    problems: list[str] = []
    files = _expand(paths, problems)
    versions: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    loose: list[tuple[str, pd.DataFrame]] = []
    flow_boxes: list[tuple[str, list[tuple[str, str, str]]]] = []
    keyed: list[tuple[str, str, pd.DataFrame]] = []
    for f in files:
        tables, text = read_published(f)
        _scan_text(str(f), text, problems, rule.min_cell, counts=f.suffix.lower() != ".json")
        for i, (caption, df) in enumerate(tables):
            _scan_table(str(f), df, problems, rule.min_cell)
            _scan_text(f"{f} (table caption)", caption, problems, rule.min_cell)
            alone = f.suffix.lower() in TABLE_SUFFIXES and len(tables) == 1 and f.name != "report.html"
            if "key" in df.attrs:  # a formatted rendering: read back into its table's raw columns below
                name = f.stem if alone else str(df.attrs["key"].get("table", f.stem))  # a table file: its stem
                keyed.append((name, f"{f}#table{i + 1}" if len(tables) > 1 else str(f), df))
            elif alone:
                versions.setdefault(f.stem, []).append((str(f), df.reset_index(drop=True)))
            else:
                loose.append((f"{f}#table{i + 1}", df.reset_index(drop=True)))
        boxes = _FLOW_BOX.findall(text)
        if boxes:
            flow_boxes.append((str(f), boxes))
    for name, where, df in keyed:
        base = versions.get(name, [(None, None)])[0][1]
        raw = _unformat(where, df, base, problems)
        if raw is not None:
            versions.setdefault(name, []).append((where, raw))
    for where, df in loose:  # report tables: one more format of the table with the same columns
        match = [n for n, v in versions.items() if list(v[0][1].columns) == list(df.columns) and len(v[0][1]) == len(df)]
        versions.setdefault(match[0] if match else where, []).append((where, df))
    for where, boxes in flow_boxes:
        if "cohort_flow" in versions and len(boxes) == len(versions["cohort_flow"][0][1]):
            fig = versions["cohort_flow"][0][1].copy()
            for r, (a, b, c) in enumerate(boxes):
                fig.loc[r, ["n_intervention", "n_control", "n_total"]] = [a, b, c]
            versions["cohort_flow"].append((where, fig))
        else:
            for a, b, c in boxes:
                for v in (a, b, c):
                    p = parse_cell(v)
                    if p is not None and rule.small(p[0]):
                        problems.append(f"{where}: a flow box shows a count from 1 to {rule.min_cell - 1}")
    tables = {name: _merge(name, v, problems) for name, v in versions.items()}
    sources = {name: ", ".join(sorted({w.split("#")[0] for w, _ in v})) for name, v in versions.items()}
    result = AuditResult(problems, [str(f) for f in files], tables)
    try:
        layout = declare(tables)
    except KeyError as exc:
        problems.append(f"a table lacks the column {exc} its declaration needs")
        return result
    shown = shown_cells(layout, tables)
    for key, cells in layout.counts.items():
        for c in cells:
            if c in shown and rule.small(shown[c][0]):
                problems.append(f"{sources[c.table]}: row {c.row + 1} ({_row_label(tables[c.table], c.row)}), "
                                f"column {c.column!r}: a count from 1 to {rule.min_cell - 1}")
    unshown = [k for k, cs in layout.counts.items() if not any(c in shown for c in cs)]
    result.suppressed_cells = sum(1 for cs in layout.quantity_cells().values() for c in cs if c not in shown) + sum(
        1 for r in layout.ratios if r.cell not in shown)
    try:
        ranges = feasible_ranges(layout, shown, unshown)
    except DisclosureError as err:
        problems += [f"{', '.join(sorted(set(sources.values())))}: {p}" for p in err.problems]
        return result
    result.attacked = len(unshown)
    for key in unshown:
        why = rule.violation(*ranges[key])
        if why:
            cells = layout.counts[key]
            if cells:
                c = cells[0]
                problems.append(f"{sources[c.table]}: row {c.row + 1} ({_row_label(tables[c.table], c.row)}), "
                                f"column {c.column!r}: suppressed count can be derived: {why}")
            else:
                problems.append(f"{', '.join(sorted(set(sources.values())))}: implicit count "
                                f"{layout.labels.get(key, key)!r} can be derived from the published cells: {why}")
    return result


def _expand(paths, problems) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in READ_SUFFIXES)
        elif p.is_file():
            if p.suffix.lower() in READ_SUFFIXES:
                out.append(p)
        else:
            problems.append(f"{p}: does not exist")
    return list(dict.fromkeys(out))
