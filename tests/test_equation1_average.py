"""Equation 1's average impact over follow-up years: the design report's simple mean of the yearly
impacts (section V.A, delta-bar = 1/T sum delta_tau) by default, beneficiary-year weights as an
option, and its SE from the joint covariance of the yearly coefficients."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mheval.models.covariates import independent_covariates, limit_organization_terms
from mheval.models.equation1 import equation1_impact, model_covariates, model_frame
from mheval.models.nested_lmm import fit_nested_lmm

TRUE_EFFECTS = {1: 0.0, 2: 2.0, 3: 4.0, 4: 10.0}  # year-varying; simple mean 4.0


def small_trial(seed: int = 3, n_org: int = 30, n_bene: int = 20) -> pd.DataFrame:
    """Beneficiary-years with known yearly impacts TRUE_EFFECTS: half the organizations treated,
    organization and beneficiary random intercepts, and attrition, so that year 4 has far fewer
    beneficiary-years (sum of WEIGHT) than year 1 and the weighted mean differs from the simple one."""
    rng = np.random.default_rng(seed)
    rows = []
    for o in range(n_org):
        mh = o % 2
        u_org = rng.normal(0, 0.5)
        org = {"ORG_ID": f"O{o}", "MH": mh, "RURAL": rng.random() < 0.3, "HEALTH_SYSTEM": rng.random() < 0.4,
               "ORG_TYPE": rng.choice(["cardiology", "multispecialty", "primary"])}
        for b in range(n_bene):
            age = rng.uniform(65, 85)
            u_bene = rng.normal(0, 1.0)
            y0 = 50 + rng.normal(0, 2)
            bene = {"AGE": age, "SEX": rng.choice(["male", "female"]), "RACE": rng.choice(["black", "white"]),
                    "DUAL": float(rng.random() < 0.2), "RISK": rng.uniform(0.2, 0.4), "smoking": rng.random() < 0.3,
                    "diabetes": rng.random() < 0.3, "antihypertensive": rng.random() < 0.5}
            last = rng.choice([2, 3, 4], p=[0.3, 0.3, 0.4])  # attrition: follow-up ends after year `last`
            for t in range(1, last + 1):
                w = rng.uniform(0.3, 1.0) if t == last else 1.0
                y = (50 + t + 0.5 * (y0 - 50) + 0.1 * (age - 70) + u_org + u_bene
                     + TRUE_EFFECTS[t] * mh + rng.normal(0, 1.0) / np.sqrt(w))
                rows.append(org | {"BENE_ID": f"O{o}B{b}", "YEAR": t, "WEIGHT": w, "STRATUM": "high"} | bene
                            | {"y": y, "y_y0": y0})
    return with_baseline_covariates(pd.DataFrame(rows), seed)


def with_baseline_covariates(d: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The rest of the covariate specification (models.covariates), unrelated to the outcome and
    drawn from their own random stream (so the outcome draws above are unchanged): enrollment
    date, Part D, HCC score per beneficiary; randomization stratum, region, self-reported FFS size
    and other CMS models per organization."""
    rng = np.random.default_rng(seed + 1000)
    benes, orgs = d["BENE_ID"].unique(), d["ORG_ID"].unique()
    b = pd.DataFrame({"BENE_ID": benes, "ENROLL_DT": pd.Timestamp("2017-01-01")
                      + pd.to_timedelta(rng.integers(0, 730, len(benes)), unit="D"),
                      "PART_D": (rng.random(len(benes)) < 0.7).astype(float), "HCC_SCORE": rng.gamma(2.0, 0.5, len(benes))})
    region = rng.choice(["Northeast", "Midwest", "South", "West"], len(orgs))
    size = rng.integers(500, 20000, len(orgs))
    o = pd.DataFrame({"ORG_ID": orgs, "REGION": region, "SELF_REPORTED_FFS_BENES": size,
                      "RAND_STRATUM": [f"{r}_{'large' if s >= 5000 else 'small'}" for r, s in zip(region, size)],
                      "OTHER_CMS_MODELS": rng.choice(["", "MSSP", "CPC+"], len(orgs))})
    return d.merge(b, on="BENE_ID", how="left").merge(o, on="ORG_ID", how="left")


@pytest.fixture(scope="module")
def data():
    return small_trial()


@pytest.fixture(scope="module")
def refit(data):
    """The same Equation 1 fitted directly: coefficients and their model-based covariance."""
    d = model_frame(data, "y", "high")
    covs = independent_covariates(d, [c for c in model_covariates(d, "high") if d[c].nunique() > 1])[0]
    covs = limit_organization_terms(covs, d["ORG_ID"].nunique())[0]  # as every model does (30 organizations)
    fit = fit_nested_lmm(d, "y ~ 0 + C(YEAR) + C(YEAR):MH + " + " + ".join(covs), org="ORG_ID", bene="BENE_ID",
                         weights="WEIGHT", reml=True)
    return d, fit


def _contrast(fit, weights: dict) -> np.ndarray:
    names = list(fit.params.index)
    c = np.zeros(len(names))
    for t, w in weights.items():
        c[names.index(f"C(YEAR)[{t}]:MH")] = w / sum(weights.values())
    return c


def test_simple_average_is_the_mean_of_the_yearly_impacts_with_se_from_the_joint_covariance(data, refit):
    d, fit = refit
    r = equation1_impact(data, "y", "high")  # default: the design's simple mean
    assert r["average_weighting"] == "simple"
    years = [row["period"] for row in r["by_year"]]
    assert years == ["year 1", "year 2", "year 3", "year 4"]
    impacts = np.array([row["impact"] for row in r["by_year"]])
    assert impacts == pytest.approx([fit.params[f"C(YEAR)[{t}]:MH"] for t in range(1, 5)], rel=1e-9)
    a = r["average"]
    assert a["impact"] == pytest.approx(impacts.mean(), rel=1e-12)
    c = _contrast(fit, {t: 1.0 for t in range(1, 5)})  # 1/4 on each yearly term
    assert c[c != 0] == pytest.approx([0.25] * 4)
    V = fit.cov_params().to_numpy()
    assert a["se"] == pytest.approx(np.sqrt(c @ V @ c), rel=1e-9)
    # the joint covariance matters: the yearly SEs alone (independence) would give a different SE
    se_indep = np.sqrt(sum(row["se"] ** 2 for row in r["by_year"])) / 4
    assert abs(a["se"] - se_indep) > 1e-3 * a["se"]
    assert a["control_mean"] == pytest.approx(np.mean([row["control_mean"] for row in r["by_year"]]))
    assert r["year_weights"] == pytest.approx({f"year {t}": 0.25 for t in range(1, 5)})


def test_beneficiary_year_average_weights_years_by_their_beneficiary_years(data, refit):
    d, fit = refit
    r = equation1_impact(data, "y", "high", average="beneficiary_years")
    assert r["average_weighting"] == "beneficiary_years"
    w = data.groupby("YEAR")["WEIGHT"].sum()  # beneficiary-years observed in each follow-up year
    assert w[4] < 0.5 * w[1]  # attrition: the two averages differ
    impacts = np.array([row["impact"] for row in r["by_year"]])
    a = r["average"]
    assert a["impact"] == pytest.approx(np.average(impacts, weights=w.to_numpy()), rel=1e-12)
    c = _contrast(fit, w.to_dict())
    assert a["se"] == pytest.approx(np.sqrt(c @ fit.cov_params().to_numpy() @ c), rel=1e-9)
    assert a["control_mean"] == pytest.approx(np.average([row["control_mean"] for row in r["by_year"]],
                                                         weights=w.to_numpy()))


def test_cr2_average_se_is_the_cr2_variance_of_the_simple_mean_contrast(data):
    d = model_frame(data, "y", "high")
    covs = independent_covariates(d, [c for c in model_covariates(d, "high") if d[c].nunique() > 1])[0]
    covs = limit_organization_terms(covs, d["ORG_ID"].nunique())[0]  # as every model does (30 organizations)
    fit = fit_nested_lmm(d, "y ~ 0 + C(YEAR) + C(YEAR):MH + " + " + ".join(covs), org="ORG_ID", bene="BENE_ID",
                         weights="WEIGHT", reml=True, cov_type="CR2")
    r = equation1_impact(data, "y", "high", cov_type="CR2")
    var, df = fit.robust.contrast(_contrast(fit, {t: 1.0 for t in range(1, 5)}))
    assert r["average"]["se"] == pytest.approx(np.sqrt(var), rel=1e-9)
    assert r["average"]["df"] == pytest.approx(df, rel=1e-9)


def test_simple_mean_recovers_the_mean_of_the_true_yearly_effects(data):
    r = equation1_impact(data, "y", "high")
    a = r["average"]
    truth_simple = np.mean(list(TRUE_EFFECTS.values()))  # 4.0
    w = data.groupby("YEAR")["WEIGHT"].sum()
    truth_weighted = float(np.average(list(TRUE_EFFECTS.values()), weights=[w[t] for t in TRUE_EFFECTS]))
    assert abs(a["impact"] - truth_simple) < 3 * a["se"]
    # the old beneficiary-year target is far from what the simple mean estimates
    assert abs(a["impact"] - truth_weighted) > 3 * a["se"]
    for row, t in zip(r["by_year"], TRUE_EFFECTS):
        assert abs(row["impact"] - TRUE_EFFECTS[t]) < 3 * row["se"], row["period"]
    weighted = equation1_impact(data, "y", "high", average="beneficiary_years")["average"]
    assert abs(weighted["impact"] - truth_weighted) < 3 * weighted["se"]


def test_unknown_average_weighting_is_one_clear_error(data):
    with pytest.raises(ValueError, match="average weighting 'mean'.*simple.*beneficiary_years"):
        equation1_impact(data, "y", "high", average="mean")
