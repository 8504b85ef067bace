"""Publication-grade renderings of the results tables: one display definition per table, three formats.

A table is published as CSV (raw columns and unformatted numbers: machine-readable, read back by
the disclosure audit) and as Markdown, LaTeX and HTML for people. The human formats come from one
:class:`Display` built from the raw table: labels instead of column names and codes (from
:data:`COLUMN_LABELS` and :data:`VALUE_LABELS`, keyed by code; an unknown code falls back to a
readable form of itself, so new rows and columns render without a new definition), an estimate
and its interval in one cell ("0.96 (0.90, 1.03)"), arms as a two-level header ("Intervention /
Events"), thousands separators and decimals chosen per measure, suppressed cells shown as "—"
and notes under the table. HTML and LaTeX are rendered by pandas' Styler (pandas is a dependency
already; great_tables is neither installed nor needed), Markdown by a small pipe-table writer
from the same formatted cells.

Every rendering carries a machine-readable key (an HTML ``data-mheval`` attribute, a LaTeX ``%``
comment, a Markdown ``<!-- -->`` comment: ``{"table": name, "columns": [[raw columns], ...]}``) that
says which raw columns each displayed column shows, in order, so the audit
(:func:`mheval.disclosure.audit`) can read a formatted cell back into the raw cells it shows.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mheval.models.cluster_robust import variance_words

__all__ = ["COLUMN_LABELS", "VALUE_LABELS", "Display", "display_table", "label", "measure_decimals", "render_html",
           "render_latex", "render_markdown", "results_display"]

DASH = "—"
ARMS = ("intervention", "control", "difference", "total")
KEY = "mheval-table"

# labels of raw column names (or their stems once an arm is taken off)
COLUMN_LABELS = {
    "outcome": "Outcome", "population": "Population", "note": "Note", "label": "Step", "variable": "Characteristic",
    "statistic": "Statistic", "n_events": "Events", "person_years": "Person-years",
    "rate_per_1000py": "Rate per 1,000 person-years", "hazard_ratio": "Hazard ratio", "p": "p-value",
    "hazard_ratio_marginal": "Marginal Cox hazard ratio", "p_value": "p-value",
    "prob_reduction": "Probability of a reduction", "prob_any_reduction": "Probability of any reduction",
    "frailty_variance": "Frailty variance", "frailty_variance_at_boundary": "Frailty variance at zero",
    "control_mean": "Control mean", "intervention_mean": "Intervention mean (adjusted)", "impact": "Impact",
    "impact_percent": "Impact, percent of control mean", "std_difference": "Standardized difference",
    "n": "Beneficiaries", "n_beneficiaries": "Beneficiaries", "follow_up_year": "Follow-up year",
    "treatment_chisq": "Treatment chi-square", "treatment_p": "Treatment p-value", "global_chisq": "Global chi-square",
    "global_df": "Global df", "global_p": "Global p-value", "rejects": "Proportional hazards rejected",
    "dimension": "Subgroup", "scale": "Scale", "unpooled": "Unpooled", "pooled": "Partially pooled",
    "prob_beyond_size": "Probability beyond the size", "heterogeneity_p": "Heterogeneity p-value",
    "heterogeneity_chisq": "Heterogeneity chi-square", "heterogeneity_df": "Heterogeneity df",
    "size_interaction_per_doubling": "Size x impact, per doubling", "size_interaction_p": "Size x impact p-value",
    "item": "Survey item", "wave": "Wave", "n_organizations": "Organizations", "estimate": "Estimate",
    "impact_pbpm": "Impact per beneficiary per month", "mean_pbpm": "Mean", "step": "Step code",
}
# labels of codes shown in cells
VALUE_LABELS = {
    "high": "High risk", "medium": "Medium risk", "high_medium": "High or medium risk",
    "High + medium risk": "High or medium risk", "intervention": "Intervention", "control": "Control",
    "difference": "Difference", "total": "Total", "count": "n", "percent": "%", "mean": "Mean",
    "impact": "Impact", "sex": "Sex", "risk": "Risk stratum", "org_size": "Organization size", "age": "Age group",
    "dual": "Dual eligibility", "race": "Race", "hazard ratio": "Hazard ratio", "True": "yes", "False": "no",
}

_CI = re.compile(r"^(?:(?P<pre>.+)_)?c(?P<cr>r?)i(?P<pct>\d+)_lower(?:_(?P<suf>.+))?$")
_PROB_SIZE = re.compile(r"^prob_reduction_(?P<size>[\d.]+)pct$")


def label(code) -> str:
    """The label of a column name or code: :data:`COLUMN_LABELS`, then :data:`VALUE_LABELS`, else the
    code made readable (underscores to spaces, first letter capitalized)."""
    text = str(code)
    if text in COLUMN_LABELS:
        return COLUMN_LABELS[text]
    if text in VALUE_LABELS:
        return VALUE_LABELS[text]
    m = _PROB_SIZE.match(text)
    if m:
        return f"Probability of a reduction of {m['size']}% or more"
    text = text.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@dataclass
class Column:
    """One displayed column: its header (one or two levels), the raw columns it shows (an estimate
    and its interval: three) and how its numbers are written (``kind``)."""

    header: tuple[str, str]
    sources: tuple[str, ...]
    kind: str


@dataclass
class Display:
    """How one table is shown to people (see the module docstring).

    Attributes
    ----------
    name : str
        The table's name (its file stem; the disclosure audit's key).
    caption : str
        What the table holds.
    columns : list of Column
        Displayed columns, inferred from the raw columns by :meth:`infer` unless given.
    notes : list of str
        Sentences under the table (model, interval level, what "—" means, sources).
    row_decimals : callable, optional
        ``f(row) -> int`` decimals for the ``measure`` columns of a row (a row's unit: dollars,
        visits, percentage points); default 3.
    not_applicable : callable, optional
        ``f(row, column) -> bool``: a blank raw cell that is not applicable (shown blank, not "—").
    """

    name: str
    caption: str = ""
    columns: list[Column] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    row_decimals: Callable | None = None
    not_applicable: Callable | None = None
    min_cell: int = 11

    @classmethod
    def infer(cls, df: pd.DataFrame, name: str, *, caption: str = "", notes: Sequence[str] = (),
              hide: Sequence[str] = (), labels: Mapping[str, str] | None = None, kinds: Mapping[str, str] | None = None,
              row_decimals: Callable | None = None, not_applicable: Callable | None = None, pct: int = 90) -> Display:
        """A display definition from a raw table's columns alone.

        An interval (``ci90_lower``/``ci90_upper``, ``X_ci90_lower``, ``ci90_lower_marginal``,
        ``X_cri90_lower``) joins its estimate (``X``, or the column before it) in one cell; columns
        of an arm (``n_events_intervention``, ``intervention_ci90_lower``) get the arm as the top
        header when some arm has two or more displayed columns. ``hide`` lists raw columns not
        shown to people (they stay in the CSV), ``labels`` and ``kinds`` override per raw column
        (kind ``code``: cells are codes shown by :func:`label`); ``pct`` is the level of intervals
        in columns named just ``lower`` and ``upper``."""
        labels, kinds = dict(labels or {}), dict(kinds or {})
        df = _numbers(df)
        names = [str(c) for c in df.columns if str(c) not in hide]
        used, groups = set(), []
        for i, c in enumerate(names):
            m = _CI.match(c)
            if not m:
                continue
            est = m["pre"] or (names[i - 1] if i else None)
            upper = c.replace("_lower", "_upper", 1) if "_lower" in c else None
            if est in names and upper in names and est not in used:
                groups.append((est, c, upper, int(m["pct"]), bool(m["cr"])))
                used |= {c, upper}
        if "lower" in names and "upper" in names and names.index("lower") > 0 and "lower" not in used:
            before = names[:names.index("lower")]
            named = [c for c in before if c in ("impact", "estimate", "hazard_ratio", "hr", "coef")]
            est = named[-1] if named else before[-1]
            if est not in used and est != "upper":
                groups.append((est, "lower", "upper", pct, False))
                used |= {"lower", "upper"}
        by_est = {g[0]: g for g in groups}
        cols = []
        for c in names:
            if c in used:
                continue
            arm, stem = _arm(c)
            head = labels.get(c) or (label(stem) if arm else label(c))
            kind = kinds.get(c) or _kind(c, df[c])
            if c in by_est:
                _, lo, hi, pct, cred = by_est[c]
                head = labels.get(c) or (label(stem) if arm and stem else ("Estimate" if arm else label(c)))
                cols.append(Column((label(arm) if arm else "", f"{head} ({pct}% {'CrI' if cred else 'CI'})"),
                                   (c, lo, hi), kind))
            else:
                cols.append(Column((label(arm) if arm else "", head), (c,), kind))
        per_arm: dict[str, int] = {}
        for col in cols:
            if col.header[0]:
                per_arm[col.header[0]] = per_arm.get(col.header[0], 0) + 1
        two_level = any(v > 1 for v in per_arm.values())
        for col in cols:
            top, sub = col.header
            full = labels.get(col.sources[0]) or COLUMN_LABELS.get(col.sources[0])
            if full and len(col.sources) > 1:
                full += sub[sub.rindex(" ("):]
            if not two_level:
                col.header = ("", full or
                              (f"{top} {sub[0].lower() + sub[1:]}" if top and sub and sub != top else (sub or top)))
            elif top and per_arm[top] == 1 and sub in ("", top):
                col.header = ("", top)
        return cls(name, caption, cols, list(notes), row_decimals, not_applicable)

    @property
    def two_level(self) -> bool:
        return any(c.header[0] for c in self.columns)

    def key(self, rows: Sequence[int] | None = None) -> dict:
        """The machine-readable key of a rendering (see the module docstring)."""
        out = {"table": self.name, "columns": [list(c.sources) for c in self.columns]}
        if rows is not None:
            out["rows"] = [int(r) for r in rows]
        return out


def _numbers(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding only numbers (and missing values), as a protected table's can, as floats."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            vals = out[c].dropna()
            if len(vals) and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
                                 for v in vals):
                out[c] = pd.to_numeric(out[c].astype(object).where(out[c].notna(), np.nan))
    return out


def _arm(c: str) -> tuple[str, str]:
    for arm in ARMS:
        if c == arm:
            return arm, ""
        if c.endswith("_" + arm):
            return arm, c[: -len(arm) - 1]
        if c.startswith(arm + "_"):
            return arm, c[len(arm) + 1:]
    return "", c


def _kind(c: str, col: pd.Series) -> str:
    from mheval.disclosure.layouts import is_count_column

    if pd.api.types.is_bool_dtype(col) or (col.dtype == object and set(col.dropna().astype(str)) <= {"True", "False"}
                                            and col.notna().any()):
        return "bool"
    if not pd.api.types.is_numeric_dtype(col) or c in ("note", "label", "outcome", "population") or col.isna().all():
        return "text"
    if is_count_column(c) or c.endswith("_df") or c in ("follow_up_year", "year", "wave"):
        return "count"
    if "person_years" in c:
        return "amount"
    if c.startswith("rate_per_"):
        return "rate"
    if c.startswith("hazard_ratio"):
        return "ratio"
    if c in ("p", "p_value") or c.endswith("_p") or c.startswith("p_"):
        return "p"
    if c.startswith("prob_"):
        return "prob"
    if c.endswith("_percent"):
        return "percent"
    if "chisq" in c:
        return "stat"
    return "measure"


# decimals per kind ("measure" is per row)
DECIMALS = {"count": 0, "amount": 0, "rate": 1, "ratio": 2, "prob": 2, "percent": 1, "percent2": 2, "stat": 2,
            "std": 3, "p": 3}


def _number(x: float, decimals: int) -> str:
    text = f"{x:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def _cell(value, kind: str, decimals: int) -> str | None:
    """A raw value as text; None when blank."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    if kind == "bool":
        return VALUE_LABELS.get(str(value), str(value))
    if kind == "text":
        return VALUE_LABELS.get(str(value), str(value))
    if kind == "code":
        return label(str(value).lower() if str(value).isupper() else value)
    x = float(value)
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if kind == "p":
        return "<0.001" if 0 <= x < 0.0005 else _number(x, 3)
    return _number(x, DECIMALS.get(kind, decimals))


def display_table(df: pd.DataFrame, display: Display) -> pd.DataFrame:
    """The displayed cells (strings) of a raw table, one row per raw row, columns as
    ``display.columns`` (a two-level MultiIndex when the display has arm headers).

    A blank raw number is "—" (suppressed) unless the row is not estimable (its note starts with
    "not estimable") or ``display.not_applicable`` says so; an estimate with its interval is
    "e (lo, hi)", with "—" for any blank part."""
    frame = _numbers(df.reset_index(drop=True))
    out = {}
    for j, col in enumerate(display.columns):
        cells = []
        for r in range(len(frame)):
            row = frame.iloc[r]
            note = str(row.get("note", "") if "note" in frame else "")
            skip = note.startswith("not estimable")
            dec = display.row_decimals(row) if display.row_decimals else 3
            parts = []
            for s in col.sources:
                text = _cell(row[s], col.kind, dec)
                if text is None:
                    blank = skip or col.kind in ("text", "bool", "code") or (
                        display.not_applicable is not None and display.not_applicable(row, s))
                    text = None if blank else DASH
                parts.append(text)
            if all(p is None for p in parts):
                cells.append("")
            elif len(parts) == 1:
                cells.append(parts[0])
            else:
                a, lo, hi = (p or DASH for p in parts)
                cells.append(f"{a} ({lo}, {hi})")
        out[j] = cells
    table = pd.DataFrame(out, index=range(len(frame)), dtype=object)
    heads = [c.header for c in display.columns]
    table.columns = pd.MultiIndex.from_tuples(heads) if display.two_level else [h[1] for h in heads]
    return table


def _numeric(display: Display) -> list[bool]:
    return [c.kind not in ("text", "bool", "code") for c in display.columns]


def _notes(display: Display, table: pd.DataFrame) -> list[str]:
    notes = list(display.notes)
    if (table == DASH).any().any() or table.apply(lambda c: c.str.contains(f"{DASH}[,)]|\\({DASH}", regex=True)).any().any():
        notes.append(f"{DASH} Not shown: suppressed under CMS's cell-size rule (no count from 1 to "
                     f"{display.min_cell - 1} is published, nor a cell from which one could be derived).")
    return notes


def render_html(df: pd.DataFrame, display: Display, *, rows: Sequence[int] | None = None) -> str:
    """The table as an HTML fragment: a ``<div class="table-wrap">`` (scrolls sideways inside its own
    box when wider than the page) holding the Styler table with its caption, then its notes."""
    table = display_table(df, display)
    if rows is not None:
        table = table.iloc[list(rows)].reset_index(drop=True)
    numeric = _numeric(display)
    classes = pd.DataFrame([["num" if n else "" for n in numeric]] * len(table), index=table.index,
                           columns=table.columns)
    styler = (table.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1)
              .set_td_classes(classes).set_uuid(re.sub(r"\W", "_", display.name)))
    attrs = f'class="results" data-mheval="{html.escape(json.dumps(display.key(rows)), quote=True)}"'
    body = styler.to_html(table_attributes=attrs, caption=html.escape(display.caption) if display.caption else None)
    body = re.sub(r'<style type="text/css">\s*</style>\s*', "", body)
    last = 1 if display.two_level else 0
    for j, n in enumerate(numeric):  # numeric columns' bottom header cells align right, like their numbers
        if n:
            body = body.replace(f'class="col_heading level{last} col{j}"', f'class="col_heading level{last} col{j} num"')
    notes = "".join(f"<p class=\"table-note\">{html.escape(n)}</p>\n" for n in _notes(display, table))
    return f'<div class="table-block">\n<div class="table-wrap">\n{body.strip()}\n</div>\n{notes}</div>'


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}  # fmt: skip


def _tex(text) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def render_latex(df: pd.DataFrame, display: Display) -> str:
    """The table as a LaTeX ``table`` float (booktabs; needs ``\\usepackage{booktabs}`` and a UTF-8
    input for "—"), its notes in a ``\\footnotesize`` block under the tabular, preceded by the key."""
    table = display_table(df, display)
    spec = "".join("r" if n else "l" for n in _numeric(display))
    styler = table.style.hide(axis="index").format(_tex).format_index(_tex, axis=1)
    body = styler.to_latex(hrules=True, multicol_align="c", column_format=spec)
    lines = [f"% {KEY}: {json.dumps(display.key())}", "\\begin{table}[htbp]", "\\centering"]
    if display.caption:
        lines.append(f"\\caption{{{_tex(display.caption)}}}")
    lines.append(body.strip())
    notes = _notes(display, table)
    if notes:
        lines.append("\\par\\footnotesize " + " ".join(_tex(n) for n in notes))
    lines.append("\\end{table}")
    return "\n".join(lines) + "\n"


def render_markdown(df: pd.DataFrame, display: Display) -> str:
    """The table as a Markdown pipe table (a two-level header joined as "Intervention: Events"),
    caption in bold above, notes below, the key in an HTML comment before it."""
    table = display_table(df, display)

    def cell(text):
        return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    heads = [f"{c.header[0]}: {c.header[1]}" if c.header[0] and c.header[1] else (c.header[1] or c.header[0])
             for c in display.columns]
    lines = [f"<!-- {KEY}: {json.dumps(display.key())} -->"]
    if display.caption:
        lines += [f"**{cell(display.caption)}**", ""]
    lines.append("| " + " | ".join(cell(h) for h in heads) + " |")
    lines.append("|" + "|".join("---:" if n else ":---" for n in _numeric(display)) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    notes = _notes(display, table)
    if notes:
        lines += [x for n in notes for x in ("", cell(n))]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the results tables


def _pct(alpha: float) -> int:
    return int(round(100 * (1 - alpha)))


def measure_decimals(text: str, magnitude: float = 0.0) -> int:
    """Decimals for a row's measure from its label: dollars whole (two decimals below $100, e.g.
    per beneficiary per month), percentages and percentage points 2, other rates and counts per
    year 3."""
    t = str(text)
    if "USD" in t or "spending" in t.lower() or "$" in t:
        return 0 if abs(magnitude) >= 100 else 2
    if "percent" in t.lower() or "pp" in t.split() or "(impact in pp)" in t:
        return 2
    return 3


def _row_measure(row) -> int:
    label_text = str(row.get("outcome", row.get("variable", "")))
    values = [row.get(c) for c in ("control_mean", "intervention_mean", "control", "intervention", "impact",
                                   "unpooled", "pooled")]
    mags = [abs(float(v)) for v in values if isinstance(v, (int, float)) and not pd.isna(v)]
    if str(row.get("scale", "")) == "hazard ratio":
        return 2
    if str(row.get("statistic", "")) == "count":
        return 0
    if str(row.get("statistic", "")) == "percent":
        return 1
    if str(row.get("statistic", "")) == "mean":  # dollars whole; small means (visits per year) 2 decimals
        return 0 if "USD" in label_text else (2 if mags and max(mags) < 10 else 1)
    return measure_decimals(label_text, max(mags) if mags else 0.0)


def _disclosure_note(config: Mapping | None) -> int:
    return int(((config or {}).get("report") or {}).get("min_cell", 11))


#: caption and note of each flow table (same layout: step, label, counts by arm)
FLOW_TEXT = {
    "cohort_flow": ("Cohort flow by arm: beneficiaries enrolled, excluded and analyzed",
                    "Exclusions are applied in the order shown; each beneficiary is counted at the first criterion "
                    "that excludes them."),
    "organization_flow": ("Organization flow by arm: randomized, withdrawn, enrolling and analyzed organizations",
                          "Organizations that withdrew are analyzed by intent to treat with the beneficiaries they "
                          "enrolled."),
}


def organization_terms_note(models: Mapping) -> str:
    """The table note of the pre-specified limit on organization-level covariates
    (:func:`mheval.models.covariates.limit_organization_terms`, config
    ``models.covariates.organizations_per_term``)."""
    k = ((models.get("covariates") or {}).get("organizations_per_term", 10))
    if not k:
        return "Organization covariates: the full specification in every model (no limit by the number of organizations)."
    return (f"Organization covariates: the randomization stratum always; the other organization characteristics, in "
            f"their pre-specified order, only while the model has at least {k:g} organizations per organization-level "
            "term (models.covariates.organizations_per_term); each model's terms left out are listed in its result "
            "file (organization_terms_limited), beside those dropped as constant or collinear.")


def results_display(name: str, df: pd.DataFrame, config: Mapping | None = None, caption: str | None = None) -> Display:
    """The display definition of a results table by its name (file stem), with its caption and
    notes written from ``config`` (interval level from ``models.alpha``, the cell-size rule from
    ``report.min_cell``); a table without its own definition is inferred from its columns."""
    cfg = dict(config or {})
    models = cfg.get("models") or {}
    levels = {int(m["pct"]) for m in map(_CI.match, map(str, df.columns)) if m}
    alpha = float(models.get("alpha", 0.10)) if len(levels) != 1 else round(1 - levels.pop() / 100, 4)
    pct = _pct(alpha)
    source = f"Source: {(cfg.get('data') or {}).get('source', 'Medicare claims and the trial registry')}."
    spec: dict = {"notes": [], "hide": (), "labels": {}, "kinds": {}, "not_applicable": None}
    if name == "hazard_ratios":
        spec["caption"] = f"Hazard ratios of heart attack, stroke and death, intervention vs control ({pct}% CI)"
        spec["notes"] = [
            "Events, person-years and crude event rates per 1,000 person-years by arm, from the first enrollment "
            "(intent to treat).",
            f"Hazard ratio: Cox model with a shared gamma frailty per organization (the unit of randomization), "
            f"adjusted for beneficiary and organization characteristics at enrollment; {pct}% Wald interval "
            f"(models.alpha = {alpha:g}); two-sided p-value; probability of a reduction = P(HR < 1) under a flat "
            "prior.",
            "Frailty variance at zero: the estimate is on its boundary (the model is then the ordinary Cox model)"
            + ("; its interval and p-value then use the marginal model's organization-clustered, small-sample "
               f"corrected variance ({models['cox_cov_type']}), as the model-based one ignores the clustering."
               if models.get("cox_cov_type", "robust") != "robust" else "."),
            "Marginal Cox hazard ratio: Cox model with standard errors clustered by organization "
            "(population-averaged), the sensitivity analysis.", organization_terms_note(models), source]
        spec["labels"] = {"prob_reduction": "Probability HR < 1"}
    elif name == "impacts":
        size = models.get("size_percent", 5)
        spec["caption"] = f"Impacts on spending and service use, intervention vs control ({pct}% CI)"
        spec["notes"] = [
            "Average impact over follow-up years from mixed models with organization and beneficiary random "
            f"intercepts (Equation 1), {variance_words(models.get('lmm_cov_type', 'CR2'))}; binary yearly outcomes "
            "as average marginal effects in percentage points"
            + (f", from population-averaged models with {variance_words(models.get('binary_cov_type', 'CR2'))}"
               if models.get("binary_cov_type", "CR2") != "model"
               else ", from the multilevel models with model-based standard errors")
            + f"; the fixed-window event from Equation 2. Means are regression-adjusted; {pct}% intervals "
            f"(models.alpha = {alpha:g}). Probabilities read each estimate as a posterior under a flat prior; "
            f"a reduction of {size:g}% or more is of the control mean.", organization_terms_note(models), source]
    elif name == "balance":
        prior_types = (cfg.get("cohort") or {}).get("prior_event_claim_types") or ["inpatient"]
        spec["caption"] = "Baseline characteristics by arm at enrollment"
        spec["notes"] = [
            "n: beneficiaries; %: percent of the population's beneficiaries in the arm; mean: arithmetic mean. "
            "Standardized difference: difference in means (or proportions) divided by the pooled standard "
            "deviation.",
            "Baseline year: the 12 months before enrollment. Baseline CVD-related spending (heart attack, stroke "
            "and TIA stays, their post-acute care and ED visits) is zero or near zero by construction: "
            "beneficiaries with a heart attack or stroke in claims before enrollment (claim types "
            f"{', '.join(prior_types)}) are excluded, so only TIA care and events in other claim types can "
            "contribute.", source]
        spec["labels"] = {"intervention": "Intervention", "control": "Control"}
        spec["not_applicable"] = lambda row, col: col == "std_difference" and str(row.get("statistic")) == "count"
        spec["kinds"] = {"std_difference": "std"}
    elif name in FLOW_TEXT:  # the beneficiaries' and the organizations' flow: one layout, their own words
        spec["caption"], note = FLOW_TEXT[name]
        spec["hide"] = ("step",)
        spec["labels"] = {"n_intervention": "Intervention", "n_control": "Control", "n_total": "Total"}
        spec["notes"] = [note, source]
    elif name == "survey_impacts":
        spec["caption"] = f"Impacts on organizations' care delivery, provider survey (Equation 3, {pct}% CI)"
        cov = sorted(set(df["cov_type"].dropna().astype(str))) if "cov_type" in df else []
        spec["notes"] = ["Organizations that enrolled beneficiaries, by survey wave; organization random intercept "
                         "and nonresponse weights from a response model on organization characteristics. "
                         f"Intervals and p-values from cluster-robust standard errors ({', '.join(cov) or 'CR2'}) "
                         "with the degrees of freedom shown; model-based standard error and p-value for comparison.",
                         organization_terms_note(models), source]
        spec["hide"] = ("alpha", "cov_type")
        spec["kinds"] = {"item": "code", "df": "stat"}
        spec["labels"] = {"se": "Standard error", "df": "Degrees of freedom", "control_mean_unadjusted":
                          "Control mean (unadjusted)", "se_model": "Model-based standard error",
                          "p_model": "Model-based p-value", "n_responses": "Responses"}
    elif name == "ph_tests":
        spec["caption"] = "Proportional-hazards tests (scaled Schoenfeld residuals)"
        spec["labels"] = {"level": "Test level"}
        spec["kinds"] = {"level": "p"}
    elif name.startswith("hazard_ratios_by_year") or name == "by_year_hr":
        spec["caption"] = f"Hazard ratio by follow-up year ({pct}% CI)"
    elif name == "adjusted_incidence":
        from mheval.report.impact_tables import INCIDENCE_NOTE

        spec["caption"] = (f"Cumulative incidence by follow-up year, percent; difference in percentage "
                           f"points ({pct}% cluster-bootstrap intervals)")
        spec["notes"] = [INCIDENCE_NOTE]
        spec["kinds"] = {c: "percent2" for c in df.columns if str(c).startswith(("intervention", "control", "difference"))}
        spec["labels"] = {"intervention": "Intervention, percent", "control": "Control, percent",
                          "difference": "Difference, percentage points"}
    elif name == "subgroups":
        spec["caption"] = f"Subgroup impacts, unpooled and partially pooled ({pct}% intervals)"
        spec["kinds"] = {"dimension": "code"}
        spec["notes"] = ["Hazard-ratio rows are Cox outcomes; impact rows are in the outcome's units. Partially "
                         "pooled: posterior of a Bayesian hierarchical model (credible interval, CrI).",
                         organization_terms_note(models)]
    elif name == "impacts_pbpm":
        spec["labels"] = {"impact_pbpm": "Impact"}
    elif name == "subgroup_tests":
        spec["caption"] = "Heterogeneity and organization size x impact interaction tests"
        spec["kinds"] = {"dimension": "code"}
    d = Display.infer(df, name, caption=caption or spec.get("caption", label(name)), notes=spec["notes"],
                      hide=spec["hide"], labels=spec["labels"], kinds=spec["kinds"], row_decimals=_row_measure,
                      not_applicable=spec["not_applicable"], pct=pct)
    d.min_cell = _disclosure_note(cfg)
    return d
