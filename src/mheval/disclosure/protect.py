"""Primary and complementary cell suppression over every linear relation between published cells."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mheval.disclosure.layouts import declare
from mheval.disclosure.model import Attack, Cell, DisclosureError, Layout, Rule, feasible_ranges

__all__ = ["ProtectedTables", "protect", "shown_cells"]

_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)(?:\.(\d+))?$")


@dataclass
class ProtectedTables:
    """The result of :func:`protect`.

    Attributes
    ----------
    tables : dict of str to DataFrame
        The tables to publish, suppressed cells missing (``<NA>``); count columns nullable ``Int64``.
    summary : DataFrame
        One row per protected table: ``cells`` (declared count and derived cells shown or hidden),
        ``primary`` (counts from 1 to min_cell - 1), ``complementary`` (other cells hidden so that no
        suppressed or implicit count can be pinned), ``derived`` (rates, percents, means and
        differences suppressed with their count), ``complementary_total`` (sum of the counts hidden
        as complements: the information lost), ``implicit_protected`` (unpublished counts from 1
        to min_cell - 1 that the relations would otherwise reveal).
    """

    tables: dict[str, pd.DataFrame]
    summary: pd.DataFrame

    def summary_records(self) -> list[dict]:
        """The summary as JSON-ready records."""
        return [{k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in r.items()}
                for r in self.summary.to_dict("records")]


def parse_cell(x) -> tuple[float, int] | None:
    """A cell as (number, decimals shown), or None if it shows no number."""
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, (int, np.integer)):
        return float(x), 0
    if isinstance(x, (float, np.floating)):
        return (float(x), -1) if math.isfinite(x) else None
    m = _NUMBER.match(str(x).strip().rstrip("%").strip())
    if not m:
        return None
    return float(str(x).strip().rstrip("%").replace(",", "")), len(m.group(2) or "")


def shown_cells(layout: Layout, tables: Mapping[str, pd.DataFrame], hidden: set[Cell] = frozenset()
                ) -> dict[Cell, tuple[float, float]]:
    """Every declared cell that shows a number, as (value, tolerance of its rounding).

    A cell that is text (read back from a file) is exact when it is a count written as an integer,
    and otherwise known to half a unit of its last decimal (person-years written as integers are
    known to +/- 0.5); a float in memory is taken as exact (up to 1e-9 relative)."""
    count_cells = {c for cells in layout.counts.values() for c in cells}
    out = {}
    cells = [c for cs in layout.quantity_cells().values() for c in cs] + [r.cell for r in layout.ratios]
    for c in cells:
        if c in hidden or c.table not in tables:
            continue
        df = tables[c.table]
        if c.column not in df.columns or c.row >= len(df):
            continue
        p = parse_cell(df[c.column].iloc[c.row])
        if p is None:
            continue
        v, dec = p
        if dec < 0:
            tol = 0.0 if (c in count_cells and v == round(v)) else 1e-9 * max(1.0, abs(v))
        else:
            tol = 0.0 if (c in count_cells and dec == 0) else 0.5 * 10.0 ** (-dec)
        out[c] = (v, tol)
    return out


def protect(tables: Mapping[str, pd.DataFrame], rule: Rule = Rule(), *,
            published: Mapping[str, pd.DataFrame] | None = None) -> ProtectedTables:
    """Suppress cells so that no count from 1 to ``rule.min_cell - 1`` can be read or derived.

    Parameters
    ----------
    tables : dict of str to DataFrame
        Tables to publish, unsuppressed, by name (``cohort_flow``, ``balance``, ``hazard_ratios`` have
        their own declared relations, see :mod:`mheval.disclosure.layouts`; any other table is generic).
    rule : Rule
        The protection rule (``Rule.from_config(config)``).
    published : dict of str to DataFrame, optional
        Tables already published (e.g. read back from their CSV): their shown cells are known to a
        reader and their blanks stay hidden; the new tables are protected together with them.

    Returns
    -------
    ProtectedTables

    Raises
    ------
    DisclosureError
        If an already-published table shows a count that must be hidden, or a count cannot be
        protected by hiding cells of ``tables``.

    Notes
    -----
    1. Primary: every count cell from 1 to ``min_cell - 1`` is hidden (with every cell showing the
       same count). Zero is shown.
    2. Derived: a rate, percent or mean is hidden with its numerator, or when its denominator is a
       count from 1 to ``min_cell - 1``; a cell declared to follow others (a standardized
       difference) is hidden with any of them.
    3. Complementary: the shown cells and the relations (all tables together) are attacked by
       linear programming (:func:`mheval.disclosure.model.feasible_ranges`); while a hidden or
       implicit count breaks ``rule``, one more cell touching its relations is hidden: one that
       protects it alone if any, with the smallest count; else the one that widens its range most.
    4. Pruning: complementary cells are shown again, largest first, when every count stays protected.
    """
    published = dict(published or {})
    everything = {**published, **tables}
    layout = declare(everything)
    own = set(tables)
    cells_of = layout.quantity_cells()
    blank = _blanks(layout, everything)
    full = shown_cells(layout, everything)
    value = {k: full[c][0] for k, cs in cells_of.items() for c in cs if c in full}
    implicit = [k for k, cs in layout.counts.items() if not cs]
    if implicit:  # the true value of an unshown count: pinned by everything before suppression
        try:
            rng = feasible_ranges(layout, full, implicit)
            value.update({k: (lo + hi) / 2 for k, (lo, hi) in rng.items() if math.isfinite(hi)})
        except DisclosureError:
            pass
    locked = {k for k, cs in cells_of.items() if any(c.table not in own and c in full for c in cs)}
    primary = set()
    for k, cs in layout.counts.items():
        if any(c in full and rule.small(full[c][0]) for c in cs):
            if k in locked:
                raise DisclosureError(f"{layout.describe(k)} shows a count from 1 to {rule.min_cell - 1} in a "
                                      "table already published", [layout.describe(k)])
            primary.add(("q", k))
    small_den = {k for k in layout.counts if k in value and rule.small(value[k])}
    # a count already published as blank stays blank where a new table repeats it
    kept = {("q", k) for k, cs in cells_of.items() if k not in locked and any(c.table not in own for c in cs)
            and any(c.table in own for c in cs) and ("q", k) not in primary}
    ratio_of = {r.cell: r for r in layout.ratios}

    def hidden_cells(state):
        hid = set(blank)
        for kind, item in state:
            hid |= {c for c in cells_of[item] if c.table in own} if kind == "q" else {item}
        for r in layout.ratios:
            num_suppressed = r.num is not None and cells_of.get(r.num) and all(c in hid for c in cells_of[r.num])
            if r.cell.table in own and (num_suppressed or r.den in small_den):
                hid.add(r.cell)
        for c, sources in layout.follows.items():
            if c.table in own and any(s in hid for s in sources):
                hid.add(c)
        return hid

    def shown_of(state):
        hid = hidden_cells(state)
        return {c: v for c, v in full.items() if c not in hid}, hid

    def cost(item):
        kind, x = item
        if kind == "q":
            return value.get(x, math.inf)
        r = ratio_of[x]
        return value.get(r.num, math.inf) if r.num is not None else math.inf

    cache: dict = {}
    below = rule.min_cell - 1e-6  # a maximum below this fails the rule whatever the minimum

    def attack_of(state):
        shown, _ = shown_of(state)
        att = Attack(layout, shown, cache)
        return att, sorted(att.unshown())

    def first_failure(att, targets, passed=None):
        for k in targets:
            if passed is not None and k in passed:
                continue
            why = rule.violation(*att.range(k, below))
            if why:
                return k, why
            if passed is not None:
                passed.add(k)
        return None

    # hiding a cell only removes constraints, so a count that passed keeps passing while cells are added
    state, passed, complementary = set(primary) | kept, set(), sorted(kept)
    for _ in range(len(cells_of) + len(layout.ratios) + 1):
        att, targets = attack_of(state)
        fail = first_failure(att, targets, passed)
        if fail is None:
            break
        key, why = fail
        best = None  # the cheapest cell that protects `key` alone, else the one that widens it most
        for cand in sorted((c for c in _neighbours(layout, key, att.shown, own, locked) if c not in state),
                           key=lambda c: (cost(c), str(c))):
            lo, hi = attack_of(state | {cand})[0].range(key)
            score = (rule.violation(lo, hi) is not None, -(min(hi, 1e12) - lo), cost(cand), str(cand))
            if best is None or score < best[0]:
                best = (score, cand)
            if not score[0]:
                break
        if best is None:
            raise DisclosureError(f"cannot protect {layout.describe(key)}: {why}, and no cell of the tables "
                                  "being published touches its relations", [layout.describe(key)])
        state.add(best[1])
        complementary.append(best[1])
    else:  # pragma: no cover - every step hides one more cell, so the loop ends before this
        raise DisclosureError("complementary suppression did not converge")
    for item in sorted(set(complementary) - kept, key=lambda i: (-cost(i), str(i))):  # pruning, largest first
        state.discard(item)
        att, targets = attack_of(state)
        anchor = item[1] if item[0] == "q" else (ratio_of[item[1]].num or ratio_of[item[1]].den)
        near = set(att.component(anchor))
        if first_failure(att, [k for k in targets if k in near] + [k for k in targets if k not in near]):
            state.add(item)
    complementary = [i for i in complementary if i in state]
    hid = hidden_cells(state)
    count_cells = {c for cs in layout.counts.values() for c in cs}
    out = {name: _apply(df, {c for c in hid if c.table == name}, count_cells, name) for name, df in tables.items()}
    rows = []
    primary_cells = {c for _, k in primary for c in cells_of[k]}
    comp_cells = {c for kind, x in complementary for c in (cells_of[x] if kind == "q" else [x])}
    declared = set(full) | {c for c in hid}
    for name in tables:
        mine = {c for c in hid - blank if c.table == name}
        rows.append({"table": name,
                     "cells": len({c for c in declared if c.table == name} - blank),
                     "primary": len(mine & primary_cells),
                     "complementary": len(mine & comp_cells - primary_cells),
                     "derived": len(mine - primary_cells - comp_cells),
                     "complementary_total": int(sum(value.get(x, 0) for kind, x in complementary
                                                    if kind == "q" and any(c.table == name for c in cells_of[x]))),
                     "implicit_protected": sum(1 for k in implicit if k in small_den and name in _tables_near(layout, k))})
    return ProtectedTables(out, pd.DataFrame(rows, columns=["table", "cells", "primary", "complementary", "derived",
                                                            "complementary_total", "implicit_protected"]))


def _tables_near(layout: Layout, key: str) -> set[str]:
    """Tables with a cell on a relation or ratio of ``key``."""
    cells_of = layout.quantity_cells()
    keys = {k for rel in layout.relations if key in dict(rel.terms) for k, _ in rel.terms}
    out = {c.table for k in keys for c in cells_of.get(k, [])}
    return out | {r.cell.table for r in layout.ratios if key in (r.num, r.den)}


def _blanks(layout: Layout, tables) -> set[Cell]:
    """Declared cells that show no number (not estimable, or already suppressed)."""
    cells = [c for cs in layout.quantity_cells().values() for c in cs] + [r.cell for r in layout.ratios]
    cells += list(layout.follows)
    out = set()
    for c in cells:
        df = tables.get(c.table)
        if df is not None and c.column in df.columns and c.row < len(df) and parse_cell(df[c.column].iloc[c.row]) is None:
            out.add(c)
    return out


def _neighbours(layout: Layout, key: str, shown, own, locked) -> list:
    """Shown cells (as suppression items) on the relations that reach ``key`` through unshown counts."""
    cells_of = layout.quantity_cells()
    is_shown = {k for k, cs in cells_of.items() if any(c in shown for c in cs)}
    edges: dict[str, list[tuple]] = {}
    for rel in layout.relations:
        ks = [k for k, _ in rel.terms]
        for k in ks:
            edges.setdefault(k, []).append(("rel", ks))
    for r in layout.ratios:
        if r.num is not None and r.cell in shown:
            for k in (r.num, r.den):
                edges.setdefault(k, []).append(("ratio", [r.num, r.den], r.cell))
    seen, todo, out = {key}, [key], []
    while todo:
        k = todo.pop()
        for edge in edges.get(k, []):
            if edge[0] == "ratio" and edge[2].table in own and ("r", edge[2]) not in out:
                out.append(("r", edge[2]))
            for other in edge[1]:
                if other in seen:
                    continue
                seen.add(other)
                if other in is_shown:
                    if other not in locked and any(c.table in own for c in cells_of[other]):
                        out.append(("q", other))
                else:
                    todo.append(other)
    return out


def _apply(df: pd.DataFrame, hidden: set[Cell], count_cells: set[Cell], name: str) -> pd.DataFrame:
    """A copy of ``df`` with ``hidden`` cells missing; a column of counts becomes nullable Int64, a
    column mixing counts and other numbers keeps integers for its counts."""
    out = df.copy().reset_index(drop=True)
    counts = {}
    for c in count_cells:
        if c.table == name:
            counts.setdefault(c.column, set()).add(c.row)
    for col in out.columns:
        rows = {c.row for c in hidden if c.column == col}
        if not rows and col not in counts:
            continue
        num = pd.to_numeric(out[col], errors="coerce")
        if not (num.notna() == out[col].notna()).all():  # text in the column: blank the hidden cells only
            out[col] = pd.Series([pd.NA if i in rows else v for i, v in enumerate(out[col])], dtype=object)
            continue
        s = num.astype("Float64")
        s.iloc[sorted(rows)] = pd.NA
        if col in counts and len(counts[col]) == len(out) and s.dropna().apply(float.is_integer).all():
            out[col] = s.astype("Int64")
        elif col in counts:
            out[col] = pd.Series([pd.NA if pd.isna(v) else (int(v) if i in counts[col] else float(v))
                                  for i, v in enumerate(s)], dtype=object)
        else:
            out[col] = s
    out.index = df.index
    return out
