"""Implementation analyses: impacts by what organizations did after randomization, and the Part A
and B spending impact net of model payments (evaluation design report, sections III.B.3 and IV).

**Non-randomized comparisons.** Intervention organizations split by an implementation measure
(the payment tier they reached, a provider-survey implementation measure) are each compared with
**all** control organizations by Equation 1 (:func:`mheval.models.equation1.equation1_impact` on
the subset). The split is by something that happened after randomization, so these contrasts are
descriptive: organizations that reached a tier or adopted a practice may differ from the others in
ways that also move the outcome. Every row says so.

**Payment tier reached** (request for applications, section IX, Table 1): in model years 2-5 the
monthly care-management payment (CVD_CM) per high-risk beneficiary is $0, $5 or $10 by the
organization's absolute risk reduction. The payments input gives, per organization and half-year,
the CVD_CM amount and the number of beneficiaries it covers, not their months; a period is read as
the $10 tier when the amount per covered beneficiary exceeds 6 x $5 = $30 (impossible at $5), as
the $5 tier otherwise, and as $0 when there is no CVD_CM payment. (A $10 period whose beneficiaries
were covered for 3 months or fewer on average reads as $5: the rule can only understate the tier.)
An organization's tier is the mean over the half-years from ``tier_start`` to the last period of the
file, rounded to the nearest of $0, $5 and $10 (cuts at $2.50 and $7.50). Intervention organizations
without any CVD_CM payment (no high-risk beneficiary) are not classified; they are counted.

**Survey implementation measures**: per intervention organization the mean of an item over the
waves it answered; binary items (values 0 and 1) split at 0.5 ("yes" / "no"), other items at the
median over intervention organizations ("at or above median" / "below median"); organizations that
never answered form the group "no survey response".

**Spending net of model payments**, per beneficiary per month (PBPM): the Equation 1 average
impact on annualized Part A and B spending (``spend_ab``) divided by 12, plus the model payments
per beneficiary-month of the intervention arm (CVD_RA and CVD_CM allocated to the analyzed
intervention beneficiaries of the population by
:func:`mheval.analysis.beneficiary_year.allocate_model_payments`, over their months of follow-up).
The payments are amounts CMS paid, known without sampling error, so the net impact's interval is
the spending impact's interval (same model and variance) shifted by the same amount. The control
arm's data-collection payments are shown PBPM alongside and not netted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mheval.models.estimability import is_estimable

NON_RANDOMIZED = "non-randomized comparison"
TIERS = ("$0", "$5", "$10")
# the time-to-event columns the net-spending rows read (allocate_model_payments and the months of follow-up)
TTE_COLUMNS = ["BENE_ID", "ORG_ID", "MH", "RISK", "STRATUM", "ENROLL_DT", "DEATH_DT", "FFS_END_DT", "FU_END_DT"]


def implementation_columns(cfg: dict) -> list[str]:
    """The beneficiary-year columns :func:`implementation_rows` reads under the implementation
    config ``cfg`` (Equation 1's columns for each of its outcomes): a caller reads only these (at
    scale 1.0 the whole file is 1.45 GB in memory)."""
    from mheval.models.equation1 import model_columns

    return list(dict.fromkeys(c for outcome in cfg.get("outcomes", []) for c in model_columns(outcome)))


def payment_tiers(payments: pd.DataFrame, orgs: pd.DataFrame, tier_start: str = "2018H1") -> tuple[pd.DataFrame, dict]:
    """The CVD CM payment tier each intervention organization reached on average from
    ``tier_start`` on (module docstring). Returns (ORG_ID, MEAN_RATE, GROUP; counts with the
    intervention organizations not classified)."""
    periods = sorted(p for p in payments["PERIOD"].unique() if p >= tier_start)
    interv = orgs.loc[orgs["ARM"] == "intervention", "ORG_ID"]
    cm = payments[payments["PAYMENT_TYPE"] == "CVD_CM"]
    has_cm = set(cm["ORG_ID"])
    per = cm[cm["PERIOD"].isin(periods)].groupby(["ORG_ID", "PERIOD"])[["AMOUNT", "N_BENEFICIARIES"]].sum()
    rate = np.where(per["AMOUNT"] > 30 * per["N_BENEFICIARIES"], 10.0, 5.0)
    per = per.assign(RATE=rate)["RATE"].unstack("PERIOD").reindex(columns=periods).fillna(0.0)
    classified = [o for o in interv if o in has_cm]
    per = per.reindex(classified).fillna(0.0)
    mean = per.mean(axis=1) if periods else pd.Series(np.nan, index=per.index)
    group = pd.cut(mean, [-np.inf, 2.5, 7.5, np.inf], labels=list(TIERS), right=False).astype(str)
    out = pd.DataFrame({"ORG_ID": per.index, "MEAN_RATE": mean.to_numpy(), "GROUP": group.to_numpy()})
    return out.reset_index(drop=True), {"intervention_organizations": int(len(interv)),
                                        "without_care_management_payments": int(len(interv) - len(classified)),
                                        "periods": periods}


def survey_measure_groups(survey: pd.DataFrame, orgs: pd.DataFrame, item: str) -> pd.DataFrame:
    """Intervention organizations split by a survey implementation measure (module docstring):
    ORG_ID, GROUP."""
    interv = orgs.loc[orgs["ARM"] == "intervention", "ORG_ID"]
    s = survey[(survey["ITEM"] == item) & survey["ORG_ID"].isin(interv)].dropna(subset=["VALUE"])
    mean = s.groupby("ORG_ID")["VALUE"].mean()
    if s["VALUE"].isin([0, 1]).all():
        group = np.where(mean >= 0.5, "yes", "no")
    else:
        group = np.where(mean >= mean.median(), "at or above median", "below median")
    out = pd.DataFrame({"ORG_ID": mean.index, "GROUP": group})
    missing = sorted(set(interv) - set(out["ORG_ID"]))
    return pd.concat([out, pd.DataFrame({"ORG_ID": missing, "GROUP": "no survey response"})], ignore_index=True)


def group_impacts(by: pd.DataFrame, groups: pd.DataFrame, measure: str, outcome: str, population: str,
                  **equation1_kwargs) -> list[dict]:
    """Equation 1's average impact for each group of intervention organizations in ``groups``
    (ORG_ID, GROUP) against all control organizations: one row per group (measure, group,
    outcome, population, design, the average impact row or the not-estimable reason)."""
    from mheval.models.equation1 import equation1_impact

    controls = by["MH"] == 0
    rows = []
    for g, members in groups.groupby("GROUP", sort=True):
        d = by[controls | by["ORG_ID"].isin(set(members["ORG_ID"]))]
        r = equation1_impact(d, outcome, population, **equation1_kwargs)
        n_org = int(d.loc[d["MH"] == 1, "ORG_ID"].nunique())
        rows.append(_row(measure, g, outcome, population, f"{NON_RANDOMIZED}: intervention organizations "
                         f"in the group vs all control organizations", r, n_org))
    return rows


def _row(measure, group, outcome, population, design, r, n_org) -> dict:
    base = {"measure": measure, "group": group, "outcome": outcome, "population": population, "design": design,
            "n_organizations_intervention": n_org}
    if not is_estimable(r):
        return {**base, "estimable": False, "reason": r["reason"]}
    a = r["average"]
    return {**base, "estimable": True, "impact": a["impact"], "se": a["se"], "df": a.get("df"), "lower": a["lower"], "upper": a["upper"],
            "p": a["p"], "alpha": r["alpha"]}


def net_spending_pbpm(spend: dict, payments: pd.DataFrame, tte: pd.DataFrame, high_threshold: float = 0.30) -> dict:
    """The Part A and B spending impact net of model payments, PBPM (module docstring), from the
    Equation 1 result ``spend`` (``spend_ab``, one population) and the payments input; ``tte``:
    the analyzed beneficiaries of that population (results/analysis/time_to_event.parquet rows)."""
    from mheval.analysis.beneficiary_year import allocate_model_payments

    base = {"measure": "spending net of model payments", "group": "all organizations", "outcome": spend["outcome"],
            "population": spend["population"],
            "design": "randomized: Equation 1 spending impact (PBPM) plus the intervention arm's model payments PBPM"}
    if not is_estimable(spend):
        return {**base, "estimable": False, "reason": spend["reason"]}
    obs_end = tte[["DEATH_DT", "FFS_END_DT", "FU_END_DT"]].min(axis=1)
    months = (pd.to_datetime(obs_end) - pd.to_datetime(tte["ENROLL_DT"])).dt.days.clip(lower=0) / (365.25 / 12)
    paid = allocate_model_payments(payments, tte, high_threshold)
    paid = paid.merge(tte[["BENE_ID", "MH"]], on="BENE_ID")
    pbpm = {}
    for mh, arm in ((1, "intervention"), (0, "control")):
        m = float(months[tte["MH"] == mh].sum())
        pbpm[arm] = float(paid.loc[paid["MH"] == mh, "AMOUNT"].sum() / m) if m > 0 else float("nan")
    a = spend["average"]
    shift = pbpm["intervention"]
    return {**base, "estimable": True, "spending_impact_pbpm": a["impact"] / 12, "payments_pbpm_intervention": shift,
            "payments_pbpm_control": pbpm["control"], "impact": a["impact"] / 12 + shift, "se": a["se"] / 12,
            "df": a.get("df"), "lower": a["lower"] / 12 + shift, "upper": a["upper"] / 12 + shift, "p": None,
            "alpha": spend["alpha"]}


def implementation_table(rows: list[dict]) -> pd.DataFrame:
    """The published table: one row per measure, group, outcome and population, with the design
    label on every row ("non-randomized comparison: ..."), the impact with its interval and p, and
    the reason in ``note`` when not estimable."""
    out = []
    for r in rows:
        keep = {k: r.get(k) for k in ("measure", "group", "outcome", "population", "design",
                                      "n_organizations_intervention") if k in r}
        if not r.get("estimable", False):
            out.append({**keep, "note": f"not estimable: {r.get('reason', '')}"})
            continue
        pct = int(round(100 * (1 - r["alpha"])))
        extra = {k: r[k] for k in ("spending_impact_pbpm", "payments_pbpm_intervention", "payments_pbpm_control")
                 if k in r}
        out.append({**keep, **extra, "impact": r["impact"], f"ci{pct}_lower": r["lower"], f"ci{pct}_upper": r["upper"],
                    "p_value": r["p"], "note": ""})
    t = pd.DataFrame(out)
    return t[[c for c in t.columns if c != "note"] + ["note"]] if len(t) else t


def implementation_rows(data_dir, by: pd.DataFrame, tte: pd.DataFrame, spend_results: list[dict], cfg: dict,
                        unavailable: dict | None = None, high_threshold: float = 0.30, **equation1_kwargs) -> list[dict]:
    """Every implementation row of the run: for each configured outcome and population, the
    groups by payment tier and by each survey item (:func:`group_impacts`), then the net-spending
    row of each ``spend_ab`` result (:func:`net_spending_pbpm`). An unavailable input (payments,
    survey; ``unavailable`` maps it to its reason) makes its rows not estimable with the reason."""
    from mheval.contract.read import read_input
    from mheval.models.covariates import POPULATIONS

    unavailable = unavailable or {}
    orgs = read_input(data_dir, "organizations")
    splits = []  # (measure, groups or reason)
    if "payments" in unavailable:
        payments = None
        splits.append(("payment tier reached", f"needs the CMS payments, unavailable ({unavailable['payments']})"))
    else:
        payments = read_input(data_dir, "payments")
        tiers, _ = payment_tiers(payments, orgs, cfg.get("tier_start_period", "2018H1"))
        splits.append(("payment tier reached", tiers[["ORG_ID", "GROUP"]]))
    for item in cfg.get("survey_items", []):
        measure = f"survey: {item}"
        if "survey" in unavailable:
            splits.append((measure, f"needs the provider survey, unavailable ({unavailable['survey']})"))
            continue
        survey = read_input(data_dir, "survey")
        if item not in set(survey["ITEM"]):
            splits.append((measure, f"item {item} is not in the survey"))
            continue
        splits.append((measure, survey_measure_groups(survey, orgs, item)))
    rows = []
    for outcome in cfg.get("outcomes", []):
        for population in cfg.get("populations", []):
            for measure, groups in splits:
                if isinstance(groups, str):
                    rows.append({"measure": measure, "group": "all", "outcome": outcome, "population": population,
                                 "design": NON_RANDOMIZED, "estimable": False, "reason": groups})
                else:
                    rows += group_impacts(by, groups, measure, outcome, population, **equation1_kwargs)
    for spend in spend_results:
        if payments is None:
            rows.append({"measure": "spending net of model payments", "group": "all organizations",
                         "outcome": spend["outcome"], "population": spend["population"], "design": "randomized",
                         "estimable": False, "reason": f"needs the CMS payments, unavailable ({unavailable['payments']})"})
            continue
        t = tte[tte["STRATUM"].isin(POPULATIONS[spend["population"]])]
        rows.append(net_spending_pbpm(spend, payments, t, high_threshold))
    return rows
