"""Each published table's cells and linear relations, declared from its labels and columns alone.

The same declarations serve the suppression (:func:`mheval.disclosure.protect`, on the tables
before suppression) and the audit (:func:`mheval.disclosure.audit`, on the tables read back from
the published files): they look only at row labels and column names, never at values. A table
without a declaration of its own gets the generic one: each cell of a count column (see
:func:`is_count_column`) is a count with no relation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pandas as pd

from mheval.disclosure.model import Cell, Layout, Ratio, Relation

__all__ = ["DECLARATIONS", "POPULATION_CODES", "declare", "is_count_column"]

ARMS = ("intervention", "control")
# the labels tables use for the populations, and the codes of the relation high + medium = high_medium
POPULATION_CODES = {"high": "high", "medium": "medium", "high_medium": "high_medium",
                    "High risk": "high", "Medium risk": "medium", "High + medium risk": "high_medium"}
_COUNT_LAST_TOKENS = {"n", "count", "events"}


def is_count_column(name: object) -> bool:
    """Whether a column name marks a count: first token ``n`` (``n_events``) or last token ``n``,
    ``count`` or ``events`` (tokens split on anything that is not a letter or digit)."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", str(name).lower()) if t]
    return bool(tokens) and (tokens[0] == "n" or tokens[-1] in _COUNT_LAST_TOKENS)


def _flow_key(step: str, arm: str) -> str:
    pops = {"analyzed": "high_medium", "analyzed:high": "high", "analyzed:medium": "medium"}
    return f"n:{pops[step]}:{arm}" if step in pops else f"flow:{step}:{arm}"


def cohort_flow(name: str, df: pd.DataFrame) -> Layout:
    """Cohort flow (columns step, label, n_intervention, n_control, n_total): each row's arms sum to
    its total; per column, enrolled = sum of exclusions + analyzed, analyzed = high + medium.
    Analyzed counts are the population sizes ``n:{population}:{arm}`` shared with other tables."""
    lay = Layout()
    steps = [str(s).strip() for s in df["step"]]
    for r, step in enumerate(steps):
        for arm in ARMS + ("total",):
            lay.count(_flow_key(step, arm), Cell(name, r, f"n_{arm}"), f"{step}, {arm}")
        lay.relations.append(Relation.total(_flow_key(step, "total"), [_flow_key(step, a) for a in ARMS],
                                            f"{name}: {step}: intervention + control = total"))
    for arm in ARMS + ("total",):
        excluded = [_flow_key(s, arm) for s in steps if s.startswith("excluded:")]
        if "enrolled" in steps and "analyzed" in steps:
            lay.relations.append(Relation.total(_flow_key("enrolled", arm), excluded + [_flow_key("analyzed", arm)],
                                                f"{name}: enrolled = excluded + analyzed ({arm})"))
        if {"analyzed", "analyzed:high", "analyzed:medium"} <= set(steps):
            lay.relations.append(Relation.total(_flow_key("analyzed", arm),
                                                [_flow_key("analyzed:high", arm), _flow_key("analyzed:medium", arm)],
                                                f"{name}: analyzed = high + medium ({arm})"))
    return lay


# the parts of the organization flow: each shown step and the implicit complement that makes up its whole
ORGANIZATION_PARTS = {"withdrawn": ("randomized", "not_withdrawn"), "enrolling": ("randomized", "enrolled_none"),
                      "analyzed": ("enrolling", "none_analyzed")}


def organization_flow(name: str, df: pd.DataFrame) -> Layout:
    """Organization flow (columns step, label, n_intervention, n_control, n_total; steps randomized,
    withdrawn, enrolling, analyzed): each row's arms sum to its total; per column, randomized =
    withdrawn + not withdrawn = enrolling + enrolled none, and enrolling = analyzed + none analyzed
    (the complements are implicit counts: a small one is protected like a shown cell)."""
    lay = Layout()
    steps = [str(s).strip() for s in df["step"]]
    for r, step in enumerate(steps):
        for arm in ARMS + ("total",):
            lay.count(f"orgflow:{step}:{arm}", Cell(name, r, f"n_{arm}"), f"organizations {step}, {arm}")
        lay.relations.append(Relation.total(f"orgflow:{step}:total", [f"orgflow:{step}:{a}" for a in ARMS],
                                            f"{name}: {step}: intervention + control = total"))
    for step, (whole, rest) in ORGANIZATION_PARTS.items():
        if step not in steps or whole not in steps:
            continue
        for arm in ARMS + ("total",):
            lay.count(f"orgflow:{rest}:{arm}", label=f"organizations {rest.replace('_', ' ')}, {arm}")
            lay.relations.append(Relation.total(f"orgflow:{whole}:{arm}", [f"orgflow:{step}:{arm}", f"orgflow:{rest}:{arm}"],
                                                f"{name}: {whole} = {step} + {rest.replace('_', ' ')} ({arm})"))
        lay.relations.append(Relation.total(f"orgflow:{rest}:total", [f"orgflow:{rest}:{a}" for a in ARMS],
                                            f"{name}: {rest}: intervention + control = total"))
    return lay


def _population_sum(lay: Layout, key: Callable[[str], str], label: str, amount: bool = False) -> None:
    """Declare the implicit medium-risk quantity and high + medium = high_medium."""
    for p in ("high", "medium", "high_medium"):
        if amount:
            lay.amount(key(p))
        else:
            lay.count(key(p), label=label.format(population=p))
    lay.relations.append(Relation.total(key("high_medium"), [key("high"), key("medium")],
                                        label.format(population="high + medium")))


def balance(name: str, df: pd.DataFrame) -> Layout:
    """Balance (columns population, variable, statistic, intervention, control, std_difference).

    Rows with statistic ``count`` are the population sizes ``n:{population}:{arm}``. A ``percent``
    row's arm cell is ``100 * with / n`` of an implicit count ``with`` whose complement ``without =
    n - with`` is a count too; both sum over high + medium. A ``mean`` row is suppressed with a
    population of fewer than ``min_cell``. ``std_difference`` is suppressed with either arm's cell."""
    lay = Layout()
    pops = {POPULATION_CODES.get(str(p).strip(), str(p).strip()) for p in df["population"]}
    both = {"high", "high_medium"} <= pops
    for arm in ARMS:
        lay.count(f"n:medium:{arm}", label=f"medium-risk beneficiaries, {arm}")
        if both:
            lay.relations.append(Relation.total(f"n:high_medium:{arm}", [f"n:high:{arm}", f"n:medium:{arm}"],
                                                f"{name}: high + medium = high + medium risk ({arm})"))
    for r, row in df.reset_index(drop=True).iterrows():
        pop = POPULATION_CODES.get(str(row["population"]).strip(), str(row["population"]).strip())
        stat, var = str(row["statistic"]).strip(), str(row["variable"]).strip()
        for arm in ARMS:
            cell = Cell(name, r, arm)
            n = lay.count(f"n:{pop}:{arm}", label=f"{pop} beneficiaries, {arm}")
            if stat == "count":
                lay.count(n, cell)
            elif stat == "percent":
                def key(p, part="with", arm=arm, var=var):
                    return f"balance:{p}:{var}:{arm}:{part}"
                lay.ratios.append(Ratio(cell, lay.count(key(pop), label=f"{pop}: {var}, {arm}"), n, 100.0))
                lay.count(key(pop, "without"), label=f"{pop}: not {var}, {arm}")
                lay.relations.append(Relation.total(n, [key(pop), key(pop, "without")], f"{name}: {var} with + without = n"))
                if both and pop == "high":
                    for part in ("with", "without"):
                        _population_sum(lay, lambda p, part=part: key(p, part), f"{{population}}: {var} {part}, {arm}")
                    lay.relations.append(Relation.total(f"n:medium:{arm}", [key("medium"), key("medium", "without")]))
            else:
                lay.ratios.append(Ratio(cell, None, n))
        if "std_difference" in df.columns:
            lay.follows[Cell(name, r, "std_difference")] = [Cell(name, r, a) for a in ARMS]
    return lay


def hazard_ratios(name: str, df: pd.DataFrame) -> Layout:
    """Hazard ratios (columns outcome, population, n_events_{arm}, person_years_{arm},
    rate_per_1000py_{arm}): rate = 1000 * events / person-years; events and person-years of high +
    medium risk are the sums of high and medium (an implicit medium row when it is not shown); the
    composite's events are the first events' plus the CV deaths before an event (unshown)."""
    lay = Layout()
    outcomes = set()
    for r, row in df.reset_index(drop=True).iterrows():
        out = str(row["outcome"]).strip()
        pop = POPULATION_CODES.get(str(row["population"]).strip(), str(row["population"]).strip())
        outcomes.add(out)
        for arm in ARMS:
            ev = lay.count(f"events:{out}:{pop}:{arm}", Cell(name, r, f"n_events_{arm}"))
            if f"person_years_{arm}" in df.columns:
                py = lay.amount(f"py:{out}:{pop}:{arm}", Cell(name, r, f"person_years_{arm}"))
                if f"rate_per_1000py_{arm}" in df.columns:
                    lay.ratios.append(Ratio(Cell(name, r, f"rate_per_1000py_{arm}"), ev, py, 1000.0))
            elif f"rate_per_1000py_{arm}" in df.columns:
                lay.follows[Cell(name, r, f"rate_per_1000py_{arm}")] = [Cell(name, r, f"n_events_{arm}")]
    for out in sorted(outcomes):
        for arm in ARMS:
            _population_sum(lay, lambda p, out=out, arm=arm: f"events:{out}:{p}:{arm}",
                            f"{name}: {out}: {{population}} events, {arm}")
            if f"person_years_{arm}" in df.columns:
                _population_sum(lay, lambda p, out=out, arm=arm: f"py:{out}:{p}:{arm}", "", amount=True)
    _composite_relations(lay, name, outcomes)
    return lay


def _composite_relations(lay: Layout, name: str, outcomes: set[str]) -> None:
    """The composite (first event or coronary or cerebrovascular death) has exactly the first
    event's events plus the CV deaths without an event before them (same observation, see
    :mod:`mheval.analysis.time_to_event`): shown side by side, their difference is that unshown
    count, which must not be 1 to 10 either."""
    from mheval.outcomes.survival import SURVIVAL_OUTCOMES

    event, composite = SURVIVAL_OUTCOMES["event"][2], SURVIVAL_OUTCOMES["event_cvdeath"][2]
    if not {event, composite} <= outcomes:
        return
    for arm in ARMS:
        key = lambda p, arm=arm: f"cv_deaths_before_event:{p}:{arm}"  # noqa: E731
        _population_sum(lay, key, f"{name}: CV deaths before an event, {{population}}, {arm}")
        for p in ("high", "medium", "high_medium"):
            lay.relations.append(Relation.total(f"events:{composite}:{p}:{arm}", [f"events:{event}:{p}:{arm}", key(p)],
                                                f"{name}: {p}: composite events = first events + CV deaths before "
                                                f"an event ({arm})"))


SUBGROUP_ESTIMATES = ("unpooled", "pooled", "prob_reduction", "prob_beyond_size")


def subgroups(name: str, df: pd.DataFrame) -> Layout:
    """Subgroups (columns outcome, population, dimension, level, n_beneficiaries_{arm}, estimates):
    a level's beneficiaries per arm are one count for every outcome, and the levels of a dimension
    sum to the population size ``n:{population}:{arm}``; a level's estimates and intervals are
    suppressed when either arm has fewer than ``min_cell`` beneficiaries."""
    lay = Layout()
    estimates = [c for c in df.columns if any(str(c).startswith(p) for p in SUBGROUP_ESTIMATES)]
    levels: dict[tuple[str, str, str], list[str]] = {}
    if not {"population", "dimension", "level"} <= set(df.columns):
        return lay  # no subgroup level at all (every dimension not estimable): no counts to relate
    for r, row in df.reset_index(drop=True).iterrows():
        pop = POPULATION_CODES.get(str(row["population"]).strip(), str(row["population"]).strip())
        dim, level = str(row["dimension"]).strip(), str(row["level"]).strip()
        for arm in ARMS:
            # the risk levels of high + medium risk are the populations themselves
            same = dim == "risk" and pop == "high_medium" and level in ("high", "medium")
            key = f"n:{level}:{arm}" if same else f"subgroup:{pop}:{dim}:{level}:{arm}"
            col = f"n_beneficiaries_{arm}"
            lay.count(key, Cell(name, r, col) if col in df.columns else None, f"{pop}: {dim} {level}, {arm}")
            if key not in levels.setdefault((pop, dim, arm), []):
                levels[(pop, dim, arm)].append(key)
            lay.ratios += [Ratio(Cell(name, r, str(c)), None, key) for c in estimates]
    for (pop, dim, arm), keys in levels.items():
        lay.count(f"n:{pop}:{arm}", label=f"{pop} beneficiaries, {arm}")
        lay.relations.append(Relation.total(f"n:{pop}:{arm}", keys, f"{name}: {pop}: levels of {dim} sum to n ({arm})"))
    return lay


def generic(name: str, df: pd.DataFrame) -> Layout:
    """Any other table: every cell of a count column is a count of its own, with no relation."""
    lay = Layout()
    for col in df.columns:
        if is_count_column(col):
            for r in range(len(df)):
                lay.count(f"{name}:{r}:{col}", Cell(name, r, str(col)))
    return lay


DECLARATIONS: dict[str, Callable[[str, pd.DataFrame], Layout]] = {
    "cohort_flow": cohort_flow,
    "organization_flow": organization_flow,
    "balance": balance,
    "hazard_ratios": hazard_ratios,
    "subgroups": subgroups,
}


def declare(tables: Mapping[str, pd.DataFrame]) -> Layout:
    """The layout of a set of tables: each table's own declaration (by name, see
    :data:`DECLARATIONS`; others are :func:`generic`), merged so that a quantity shown in two
    tables (the population sizes in the flow and balance tables) is one quantity."""
    lay = Layout()
    for name, df in tables.items():
        lay.merge(DECLARATIONS.get(name, generic)(name, df))
    return lay
