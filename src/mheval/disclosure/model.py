"""The linear model of what published tables tell a reader, and the LP attack on it.

Every published number is a *cell* (table, row position, column). A cell either shows a
*quantity* directly (a count such as enrolled intervention beneficiaries, or an amount such as
person-years) or is a *ratio* of two quantities (a rate per 1,000 person-years, a percent, a
mean). Quantities that no table shows (medium-risk events when only high and high + medium are
published, the beneficiaries without a characteristic whose percent is shown) are *implicit*:
they have no cell but are still counts that must not be pinned inside 1 to ``min_cell - 1``.

A :class:`Layout` holds the quantities, the ratio cells and the linear relations between
quantities (totals, flow identities, population sums). :func:`feasible_ranges` is the attack: it
turns the shown cells into bounds and linear constraints and computes, by linear programming
(HiGHS, through its own Python
interface ``highspy`` so that each component's model is built once and re-solved warm for every quantity), the smallest and largest value each unshown count
can take. Counts are integers, so the LP bounds are rounded inward (``ceil`` of the minimum,
``floor`` of the maximum); integrality can only narrow a range further, never widen it, so a range
the LP finds wide may be narrower for an integer solver (see docs/disclosure.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import highspy
import numpy as np

from mheval.errors import StepError

__all__ = ["Attack", "Cell", "DisclosureError", "Layout", "Ratio", "Relation", "Rule", "feasible_ranges"]

_EPS = 1e-6


class DisclosureError(StepError, ValueError):
    """Raised when tables cannot be protected, or when published files fail the audit.

    Attributes
    ----------
    problems : list of str
        Every problem found, one string each (file or table, cell, what is wrong; never the value).
    """

    heading = "PUBLICATION CHECK FAILED"

    def __init__(self, message: str, problems: Iterable[str] = ()):
        super().__init__(message)
        self.problems = list(problems)


@dataclass(frozen=True)
class Rule:
    """The protection rule for counts (config ``report.min_cell`` and ``report.disclosure``).

    A count that is not shown (suppressed, or implicit) with integer feasible range ``[L, H]`` is
    safe when ``H < 1`` (it is known to be zero, which may be published), or ``L >= min_cell`` (it is
    known to be publishable), or when ``H >= min_cell`` and ``H - L >= protection_width``: a reader
    cannot tell it is a small count, and cannot narrow it to fewer than ``protection_width + 1``
    values. Shown counts must be 0 or at least ``min_cell``.
    """

    min_cell: int = 11
    protection_width: int = 10

    @classmethod
    def from_config(cls, config: Mapping) -> Rule:
        """The rule from the workflow config (``report.min_cell``, ``report.disclosure.protection_width``)."""
        rep = config["report"] if "report" in config else config
        width = (rep.get("disclosure") or {}).get("protection_width", rep["min_cell"] - 1)
        return cls(int(rep["min_cell"]), int(width))

    def small(self, value: float) -> bool:
        """Whether a shown count breaks the rule (from 1 to ``min_cell - 1``)."""
        return 0 < value < self.min_cell

    def violation(self, lo: float, hi: float) -> str | None:
        """Why an unshown count with LP range ``[lo, hi]`` is not protected, or None if it is."""
        low = math.ceil(max(lo, 0.0) - _EPS)  # counts are non-negative (lo is -inf when not solved)
        high = math.floor(hi + _EPS) if math.isfinite(hi) else math.inf
        if high < 1 or low >= self.min_cell:
            return None
        if high < self.min_cell:
            return f"its feasible range lies inside 1-{self.min_cell - 1}"
        if high - low < self.protection_width:
            return f"its feasible range is narrower than {self.protection_width}"
        return None


@dataclass(frozen=True, order=True)
class Cell:
    """One published cell: table name, row position (0-based) and column name."""

    table: str
    row: int
    column: str


@dataclass(frozen=True)
class Relation:
    """A linear identity ``sum(coef * quantity) == 0`` between quantities, with a label for messages."""

    terms: tuple[tuple[str, float], ...]
    label: str = ""

    @classmethod
    def total(cls, total: str, parts: Iterable[str], label: str = "") -> Relation:
        """``total == sum(parts)``."""
        return cls(((total, -1.0),) + tuple((p, 1.0) for p in parts), label)


@dataclass(frozen=True)
class Ratio:
    """A cell showing ``scale * num / den`` (a rate, a percent, a mean).

    ``num`` is None for a mean (its sum is not a count and adds no constraint); such a cell is only
    suppressed with its denominator. A shown ratio with a numerator gives the linear constraints
    ``scale * num - (r +/- tol) * den`` of the right signs.
    """

    cell: Cell
    num: str | None
    den: str
    scale: float = 1.0


@dataclass
class Layout:
    """What a set of tables declares: quantities and their cells, ratio cells, relations, and
    cells that are suppressed whenever one of their sources is (e.g. a standardized difference
    with its percents)."""

    counts: dict[str, list[Cell]] = field(default_factory=dict)
    amounts: dict[str, list[Cell]] = field(default_factory=dict)
    ratios: list[Ratio] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    follows: dict[Cell, list[Cell]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def count(self, key: str, cell: Cell | None = None, label: str = "") -> str:
        """Declare a count quantity (implicit when ``cell`` is None); returns the key."""
        self.counts.setdefault(key, [])
        if cell is not None:
            self.counts[key].append(cell)
        if label:
            self.labels.setdefault(key, label)
        return key

    def amount(self, key: str, cell: Cell | None = None) -> str:
        """Declare a non-negative amount that is not itself sensitive (person-years)."""
        self.amounts.setdefault(key, [])
        if cell is not None:
            self.amounts[key].append(cell)
        return key

    def merge(self, other: Layout) -> Layout:
        """Add another layout's declarations (shared keys are the same quantity)."""
        for k, cells in other.counts.items():
            self.counts.setdefault(k, []).extend(cells)
        for k, cells in other.amounts.items():
            self.amounts.setdefault(k, []).extend(cells)
        self.ratios += other.ratios
        self.relations += other.relations
        self.follows.update(other.follows)
        for k, v in other.labels.items():
            self.labels.setdefault(k, v)
        return self

    def quantity_cells(self) -> dict[str, list[Cell]]:
        return {**self.amounts, **self.counts}

    def describe(self, key: str) -> str:
        """A reader's name for a quantity: its first cell, or its label for an implicit one."""
        cells = self.counts.get(key) or self.amounts.get(key)
        if cells:
            c = cells[0]
            return f"{c.table}: row {c.row + 1}, column {c.column!r}"
        return f"implicit count {self.labels.get(key, key)!r}"


Shown = Mapping[Cell, tuple[float, float]]  # cell -> (value, rounding tolerance) for shown cells


def feasible_ranges(layout: Layout, shown: Shown, targets: Iterable[str] | None = None,
                    cache: dict | None = None) -> dict[str, tuple[float, float]]:
    """The attack: the LP minimum and maximum of each count that is not shown.

    Parameters
    ----------
    layout : Layout
        Quantities, ratios and relations.
    shown : mapping of Cell to (value, tolerance)
        Every shown cell and the half-width of its rounding (0 for integers).
    targets : iterable of str, optional
        Count keys to attack; by default every count with no shown cell.
    cache : dict, optional
        Reused between calls on the same layout (keyed by component and its shown constraints).

    Returns
    -------
    dict
        Key -> (lo, hi) of the LP relaxation (``hi`` may be ``inf``).

    Raises
    ------
    DisclosureError
        If the shown values contradict the relations (the LP is infeasible).
    """
    attack = Attack(layout, shown, cache)
    if targets is None:
        targets = attack.unshown()
    return {k: attack.range(k) for k in targets}


class Attack:
    """The linear constraints that shown cells put on the quantities, split into connected
    components over the quantities not pinned exactly; ranges are solved lazily per quantity and
    cached by component (so that a change elsewhere does not recompute them)."""

    def __init__(self, layout: Layout, shown: Shown, cache: dict | None = None):
        self.layout, self.shown = layout, shown
        self.cache = {} if cache is None else cache
        qcells = layout.quantity_cells()
        keys = list(qcells)
        self.index = index = {k: i for i, k in enumerate(keys)}
        lo = np.zeros(len(keys))
        hi = np.full(len(keys), np.inf)
        for k, cells in qcells.items():
            for c in cells:
                if c in shown:
                    v, tol = shown[c]
                    lo[index[k]] = max(lo[index[k]], v - tol)
                    hi[index[k]] = min(hi[index[k]], v + tol)
        near = (lo > hi) & (lo - hi < 1e-7)  # rounding noise must not make the LP infeasible
        lo[near] = hi[near]
        bad = [keys[i] for i in np.flatnonzero(lo > hi)]
        if bad:
            raise DisclosureError(f"published values contradict each other for {bad[:3]}",
                                  [f"{layout.describe(k)}: the formats or tables show different values" for k in bad])
        self.lo, self.hi = lo, hi
        rows: list[tuple[dict[int, float], float, float, str]] = []  # (coefs, lower, upper, label)
        for rel in layout.relations:
            coefs: dict[int, float] = {}
            for k, a in rel.terms:
                coefs[index[k]] = coefs.get(index[k], 0.0) + a
            rows.append((coefs, 0.0, 0.0, rel.label or repr(rel.terms)))
        for r in layout.ratios:
            if r.num is None or r.cell not in shown:
                continue
            v, tol = shown[r.cell]
            n, d = index[r.num], index[r.den]
            rows.append(({n: r.scale, d: -(v + tol)}, -np.inf, 0.0, f"ratio {r.cell}"))
            rows.append(({n: r.scale, d: -(v - tol)}, 0.0, np.inf, f"ratio {r.cell}"))
        self.rows = rows
        pinned = hi - lo <= 1e-12
        parent = list(range(len(keys)))

        def find(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for coefs, *_ in rows:
            free = [i for i in coefs if not pinned[i]]
            for i in free[1:]:
                parent[find(i)] = find(free[0])
        comp_rows: dict[int, list[int]] = {}
        for j, (coefs, low, up, label) in enumerate(rows):
            free = [i for i in coefs if not pinned[i]]
            if free:
                comp_rows.setdefault(find(free[0]), []).append(j)
                continue
            s = sum(a * lo[i] for i, a in coefs.items())
            scale = 1.0 + sum(abs(a * lo[i]) for i, a in coefs.items())
            if s < low - 1e-6 * scale or s > up + 1e-6 * scale:
                raise DisclosureError(f"published values contradict the relation {label}",
                                      [f"the relation {label} does not hold on the published values"])
        members: dict[int, list[int]] = {}
        for i in range(len(keys)):
            if not pinned[i]:
                members.setdefault(find(i), []).append(i)
        self.pinned, self.find, self.members, self.comp_rows = pinned, find, members, comp_rows

    def unshown(self) -> list[str]:
        """Counts with no shown cell."""
        return [k for k, cells in self.layout.counts.items() if not any(c in self.shown for c in cells)]

    def component(self, key: str) -> list[str]:
        """The quantities linked to ``key`` through constraints over unpinned quantities."""
        i = self.index[key]
        if self.pinned[i]:
            return [key]
        keys = list(self.index)
        return [keys[m] for m in self.members[self.find(i)]]

    def range(self, key: str, upper_only_below: float | None = None) -> tuple[float, float]:
        """LP (min, max) of one quantity. With ``upper_only_below``, the minimum is not solved (-inf
        is returned) when the maximum is below it: the rule fails whatever the minimum."""
        i = self.index[key]
        if self.pinned[i]:
            return (self.lo[i], self.hi[i])
        root = self.find(i)
        member = self.members[root]
        rows = self.comp_rows.get(root, [])
        if not rows:
            return (self.lo[i], self.hi[i])
        sig = (tuple(member), tuple(rows), tuple((self.lo[m], self.hi[m]) for m in member),
               tuple(self.rows[j][1:3] + (tuple(self.rows[j][0].items()),) for j in rows))
        prob = self.cache.get(sig)
        if prob is None:
            prob = self.cache[sig] = {"lp": _component_lp(member, [self.rows[j] for j in rows], self.lo, self.hi)}
        if ("max", i) not in prob:
            prob[("max", i)] = _solve(prob["lp"], member.index(i), -1.0)
        high = prob[("max", i)]
        if upper_only_below is not None and high < upper_only_below and ("min", i) not in prob:
            return (-np.inf, high)
        if ("min", i) not in prob:
            prob[("min", i)] = _solve(prob["lp"], member.index(i), 1.0)
        return (prob[("min", i)], high)


def _component_lp(member, rows, lo, hi):
    """One component as a HiGHS model (pinned quantities moved to the right-hand side); it is kept
    and re-solved with a new objective per quantity, warm-started from the previous basis."""
    pos = {m: p for p, m in enumerate(member)}
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("presolve", "off")  # re-solved warm from the last basis for each objective
    h.setOptionValue("threads", 1)  # small models: a thread pool costs more than it saves
    inf = highspy.kHighsInf
    h.addVars(len(member), np.array([lo[m] for m in member], float),
              np.array([hi[m] if np.isfinite(hi[m]) else inf for m in member], float))
    for coefs, low, up, _ in rows:
        vec: dict[int, float] = {}
        const = 0.0
        for i, a in coefs.items():
            if i in pos:
                vec[pos[i]] = vec.get(pos[i], 0.0) + a
            else:
                const += a * lo[i]
        idx = np.array(sorted(vec), dtype=np.int32)
        h.addRow(low - const if np.isfinite(low) else -inf, up - const if np.isfinite(up) else inf,
                 len(idx), idx, np.array([vec[i] for i in idx], float))
    return {"highs": h, "n": len(member)}


def _solve(lp, p, sign):
    """min (sign=1) or max (sign=-1) of variable ``p``."""
    h, n = lp["highs"], lp["n"]
    cost = np.zeros(n)
    cost[p] = 1.0
    h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
    h.changeObjectiveSense(highspy.ObjSense.kMinimize if sign > 0 else highspy.ObjSense.kMaximize)
    h.run()
    status = h.getModelStatus()
    if status == highspy.HighsModelStatus.kUnbounded:
        return sign * -np.inf
    if status in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        raise DisclosureError("published values contradict their relations (infeasible)",
                              ["the published values contradict their declared relations"])
    if status != highspy.HighsModelStatus.kOptimal:
        raise DisclosureError(f"linear program failed: {h.modelStatusToString(status)}",
                              [h.modelStatusToString(status)])
    return h.getInfo().objective_function_value
