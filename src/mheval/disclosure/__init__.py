"""Disclosure control for everything published: cell suppression over the linear relations
between published cells, and the audit that attacks every published file.

- :func:`protect` suppresses counts from 1 to ``min_cell - 1``, the rates, percents and means
  derived from them, and complementary cells chosen so that no suppressed or implicit count can be
  pinned by linear programming over all tables together (:class:`Rule`).
- :func:`audit` reads every published file back and attacks it the same way, independently of
  :func:`protect`, and looks for identifiers.
- :mod:`mheval.disclosure.layouts` declares each table's cells and relations.

The rule, each table's relations, the algorithm and its limits are in docs/disclosure.md.
"""

from mheval.disclosure.audit import AuditResult, audit, read_published
from mheval.disclosure.layouts import declare, is_count_column
from mheval.disclosure.model import Cell, DisclosureError, Layout, Ratio, Relation, Rule, feasible_ranges
from mheval.disclosure.protect import ProtectedTables, protect
from mheval.disclosure.summary import suppression_note

__all__ = ["AuditResult", "Cell", "DisclosureError", "Layout", "ProtectedTables", "Ratio", "Relation", "Rule",
           "audit", "declare", "feasible_ranges", "is_count_column", "protect", "read_published",
           "suppression_note"]
