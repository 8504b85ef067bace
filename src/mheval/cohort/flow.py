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


ORGANIZATION_STEPS = {
    "randomized": "Organizations randomized",
    "withdrawn": "  Withdrew from the model (at any time; analyzed by intent to treat)",
    "enrolling": "Enrolled at least one beneficiary in the registry",
    "analyzed": "  With at least one analyzed beneficiary",
}


def organization_flow(organizations: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """Organizations by randomized arm: randomized, withdrawn, enrolling at least one beneficiary,
    analyzed (at least one analyzed beneficiary). Columns step, label, intervention, control, total.

    ``organizations``: the registry's organization file (ORG_ID, ARM and, when present,
    WITHDRAWAL_DT; without it the withdrawn row is left out); ``people``: every registry enrollee
    with ORG_ID and EXCLUSION ("" if analyzed), as :func:`mheval.cohort.build_cohort` returns.
    Withdrawn and enrolling are both parts of randomized (an organization may enroll and withdraw
    later), analyzed is part of enrolling; the function checks it. An enrollee's organization
    missing from the organization file is an error (named with examples), not dropped."""
    orgs = organizations.drop_duplicates("ORG_ID")
    if len(orgs) != len(organizations):
        raise ValueError(f"registry/organizations: ORG_ID repeated in {len(organizations) - len(orgs)} rows")
    unknown = sorted(set(people["ORG_ID"]) - set(orgs["ORG_ID"]))
    if unknown:
        raise ValueError(f"registry/alignment: ORG_ID of {len(unknown)} enrolling organizations not in "
                         f"registry/organizations, e.g. {unknown[:5]}")
    masks = {"randomized": pd.Series(True, index=orgs.index)}
    if "WITHDRAWAL_DT" in orgs.columns:
        masks["withdrawn"] = orgs["WITHDRAWAL_DT"].notna()
    masks["enrolling"] = orgs["ORG_ID"].isin(people["ORG_ID"])
    masks["analyzed"] = orgs["ORG_ID"].isin(people.loc[people["EXCLUSION"] == "", "ORG_ID"])
    rows = [{"step": step, "label": ORGANIZATION_STEPS[step],
             **{a: int((m & (orgs["ARM"] == a)).sum()) for a in ARMS}, "total": int(m.sum())}
            for step, m in masks.items()]
    table = pd.DataFrame(rows)
    n = table.set_index("step")[list(ARMS) + ["total"]]
    if not ((n.loc["analyzed"] <= n.loc["enrolling"]) & (n.loc["enrolling"] <= n.loc["randomized"])).all():
        raise AssertionError("organization flow does not nest: analyzed <= enrolling <= randomized")
    if not (n[list(ARMS)].sum(axis=1) == n["total"]).all():
        raise AssertionError("organization flow: an organization's arm is neither intervention nor control")
    return table
