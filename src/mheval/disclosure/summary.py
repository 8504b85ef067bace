"""The report's note on how many cells were suppressed and why."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from mheval.disclosure.model import Rule

__all__ = ["suppression_note"]


def suppression_note(summaries: Iterable[Mapping], rule: Rule = Rule()) -> str:
    """Plain text for the report: cells suppressed in all tables, by reason, and the rule.

    ``summaries`` are the records of :attr:`mheval.disclosure.ProtectedTables.summary` (one per
    protected table). Only totals over all tables are given, so the note does not tell which
    suppressed cell is a small count.
    """
    rows = list(summaries)
    tot = {k: sum(int(r.get(k, 0)) for r in rows) for k in
           ("cells", "primary", "complementary", "derived", "complementary_total", "implicit_protected")}
    hidden = tot["primary"] + tot["complementary"] + tot["derived"]
    share = f" ({100 * hidden / tot['cells']:.1f} percent)" if tot["cells"] else ""
    return (
        f"CMS's cell-size rule: no published cell shows a count from 1 to {rule.min_cell - 1}, nor anything "
        f"from which one can be derived. Of the {tot['cells']:,} count and count-derived cells of the "
        f"{', '.join(r['table'] for r in rows) or 'protected'} tables, {hidden:,}{share} are suppressed (left blank; "
        f"\u2014 in the formatted tables): "
        f"{tot['primary']:,} counts from 1 to {rule.min_cell - 1}; {tot['derived']:,} rates, percents, means or "
        f"differences computed from a suppressed count or over fewer than {rule.min_cell} beneficiaries; and "
        f"{tot['complementary']:,} complementary cell(s), hidden so that no suppressed count, and no unpublished "
        f"count ({tot['implicit_protected']:,} of which are from 1 to {rule.min_cell - 1}), can be narrowed by "
        f"the tables' totals and other linear relations to a range inside 1 to {rule.min_cell - 1} or narrower "
        f"than {rule.protection_width}. The complementary counts hidden sum to {tot['complementary_total']:,}. "
        "A final audit reads every published file back and attacks each blank cell by linear programming "
        "(see docs/disclosure.md)."
    )
