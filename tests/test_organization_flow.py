"""The organization flow by arm: counts on a hand-built registry, and its disclosure protection
(a small complement such as "randomized but enrolled no one" cannot be derived from what is shown)."""

from __future__ import annotations

import pandas as pd
import pytest

from mheval.cohort.flow import organization_flow
from mheval.cohort.tables import publishable_flow
from mheval.disclosure import Rule, audit, declare, feasible_ranges
from mheval.disclosure.protect import shown_cells
from mheval.report import write_table

RULE = Rule(min_cell=11, protection_width=10)


def _registry():
    """8 organizations: I1-I5 intervention, C1-C3 control. I2 and C3 withdrew; I1, I2, I3 and C1, C2
    enrolled beneficiaries; of those, all of I1's and C2's enrollees were excluded."""
    orgs = pd.DataFrame({"ORG_ID": ["I1", "I2", "I3", "I4", "I5", "C1", "C2", "C3"],
                         "ARM": ["intervention"] * 5 + ["control"] * 3,
                         "WITHDRAWAL_DT": pd.to_datetime([None, "2018-03-01", None, None, None, None, None, "2017-06-01"])})
    people = pd.DataFrame({"BENE_ID": [f"B{i}" for i in range(7)],
                           "ORG_ID": ["I1", "I2", "I2", "I3", "C1", "C2", "C2"],
                           "EXCLUSION": ["age", "", "prior_event", "", "", "age", "no_ffs"]})
    return orgs, people


def test_counts_on_a_hand_built_registry():
    orgs, people = _registry()
    t = organization_flow(orgs, people).set_index("step")
    assert list(t.index) == ["randomized", "withdrawn", "enrolling", "analyzed"]
    assert t.loc["randomized", ["intervention", "control", "total"]].tolist() == [5, 3, 8]
    assert t.loc["withdrawn", ["intervention", "control", "total"]].tolist() == [1, 1, 2]
    assert t.loc["enrolling", ["intervention", "control", "total"]].tolist() == [3, 2, 5]
    assert t.loc["analyzed", ["intervention", "control", "total"]].tolist() == [2, 1, 3]  # I2, I3; C1
    # without the optional withdrawal column: no withdrawn row (not a row of zeros)
    t2 = organization_flow(orgs.drop(columns="WITHDRAWAL_DT"), people)
    assert "withdrawn" not in set(t2["step"])


def test_an_enrolling_organization_missing_from_the_registry_is_an_error():
    orgs, people = _registry()
    people.loc[0, "ORG_ID"] = "X9"
    with pytest.raises(ValueError, match=r"registry/organizations.*'X9'"):
        organization_flow(orgs, people)


def _big():
    """A trial-sized flow: 260 / 256 randomized, 120 / 110 withdrew, 175 / 170 enrolled someone, of
    which 172 / 166 analyzed: the 3 / 4 enrolling but not analyzed are small complements."""
    return pd.DataFrame({"step": ["randomized", "withdrawn", "enrolling", "analyzed"], "label": list("abcd"),
                         "intervention": [260, 120, 175, 172], "control": [256, 110, 170, 166],
                         "total": [516, 230, 345, 338]})


def test_small_complements_are_protected_and_survive_the_attack(tmp_path):
    flow = _big()
    # unprotected, enrolling - analyzed pins the 3 organizations enrolling someone but none analyzed
    raw = flow.rename(columns=lambda c: f"n_{c}" if c in ("intervention", "control", "total") else c)
    layout = declare({"organization_flow": raw})
    lo, hi = feasible_ranges(layout, shown_cells(layout, {"organization_flow": raw}))["orgflow:none_analyzed:intervention"]
    assert lo == pytest.approx(3) and hi == pytest.approx(3)
    out = publishable_flow(flow, RULE, name="organization_flow").tables["organization_flow"]
    assert out[["n_intervention", "n_control"]].isna().any().any()
    layout = declare({"organization_flow": out})
    for key, (lo, hi) in feasible_ranges(layout, shown_cells(layout, {"organization_flow": out})).items():
        assert RULE.violation(lo, hi) is None, (key, lo, hi)
    write_table(out, tmp_path / "organization_flow")
    files = [tmp_path / f"organization_flow.{e}" for e in ("csv", "md", "tex", "html")]
    assert not audit(files, RULE).problems
    write_table(raw, tmp_path / "organization_flow")  # as computed, the audit names the table
    problems = audit(files, RULE).problems
    assert any("organization_flow.csv" in p for p in problems)


def test_a_small_count_shown_in_the_table_is_suppressed():
    orgs, people = _registry()  # every count is from 1 to 10
    out = publishable_flow(organization_flow(orgs, people), RULE, name="organization_flow").tables["organization_flow"]
    shown = out[["n_intervention", "n_control", "n_total"]].stack().dropna()
    assert ((shown == 0) | (shown >= 11)).all()
