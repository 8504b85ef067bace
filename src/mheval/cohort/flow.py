"""CONSORT-style flow of registry enrollees to the analysis population, by arm."""

from __future__ import annotations

import pandas as pd

ARMS = ("intervention", "control")


def flow_table(people: pd.DataFrame, order: list[str], labels: dict[str, str]) -> pd.DataFrame:
    """Counts by step and arm: enrolled, each exclusion (in ``order``), analyzed, by stratum.

    ``people`` has ARM, EXCLUSION ("" if analyzed) and STRATUM. Every enrollee is counted
    exactly once among the exclusions and the analyzed, so the rows add up; the function checks it.
    """
    rows = []

    def add(step, label, mask):
        counts = {a: int((mask & (people["ARM"] == a)).sum()) for a in ARMS}
        rows.append({"step": step, "label": label, **counts, "total": int(mask.sum())})

    everyone = pd.Series(True, index=people.index)
    add("enrolled", "Beneficiaries enrolled in the registry (first enrollment)", everyone)
    for reason in order:
        add(f"excluded:{reason}", labels[reason], people["EXCLUSION"] == reason)
    analyzed = people["EXCLUSION"] == ""
    add("analyzed", "Analyzed (high or medium risk)", analyzed)
    add("analyzed:high", "  High risk", analyzed & (people["STRATUM"] == "high"))
    add("analyzed:medium", "  Medium risk", analyzed & (people["STRATUM"] == "medium"))
    table = pd.DataFrame(rows)
    excluded = table[table["step"].str.startswith("excluded:")][list(ARMS) + ["total"]].sum()
    top = table.iloc[0][list(ARMS) + ["total"]]
    bottom = table[table["step"] == "analyzed"].iloc[0][list(ARMS) + ["total"]]
    if not (top - excluded == bottom).all():
        raise AssertionError("cohort flow does not add up: enrolled - excluded != analyzed")
    strata = table[table["step"].isin(["analyzed:high", "analyzed:medium"])][list(ARMS) + ["total"]].sum()
    if not (strata == bottom).all():
        raise AssertionError("cohort flow does not add up: high + medium != analyzed")
    return table
