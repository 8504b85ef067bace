"""Equation 3 as designed: one impact per survey wave, organization averages of beneficiary
covariates, every randomized organization in the response model, and the nonresponse weights as
sampling weights (weighted least squares, CR2 with Satterthwaite df), checked against R's lm with
weights and clubSandwich (stored reference values; live when R is installed) and by hand."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from mheval.models.cluster_robust import cr2_weighted_ls
from mheval.models.covariates import DEFAULT_COVARIATES
from mheval.models.equation3 import (ORG_COVARIATES, beneficiary_averages, equation3_frame, equation3_impact,
                                     nonresponse_weights, organization_covariates)


def _wls_data():
    rng = np.random.default_rng(1)
    n = 40
    d = pd.DataFrame({"x1": rng.normal(size=n), "mh": rng.integers(0, 2, n).astype(float),
                      "w": rng.uniform(0.5, 3, n), "cl": np.repeat(np.arange(20), 2)})
    d["y"] = 1 + 0.5 * d["mh"] + 0.3 * d["x1"] + rng.normal(size=n)
    return d


# R 4.2.2, clubSandwich 0.5.8: f <- lm(y ~ mh + x1, weights = w); vcovCR(f, cluster, type = "CR2");
# coef_test(f, vcov = v, test = "Satterthwaite") on _wls_data() (printed with digits = 15)
R_COEF = [0.607160453280481, 0.934701555158256, 0.357545945269948]
R_SE = {"pairs": [0.159347939373415, 0.262946556609267, 0.103297061177709],
        "rows": [0.171630551259859, 0.289264243389629, 0.199100038639214]}
R_DF_MH = {"pairs": 13.18037450694494, "rows": 20.16433240244287}


@pytest.mark.parametrize("clusters", ["pairs", "rows"])
def test_weighted_cr2_matches_stored_clubsandwich(clusters):
    d = _wls_data()
    X = np.column_stack([np.ones(len(d)), d["mh"], d["x1"]])
    cl = d["cl"] if clusters == "pairs" else np.arange(len(d))
    f = cr2_weighted_ls(X, d["y"], cl, d["w"])
    assert f.params == pytest.approx(R_COEF, abs=1e-9)
    assert np.sqrt(np.diag(f.vcov)) == pytest.approx(R_SE[clusters], abs=1e-9)
    assert f.contrast([0, 1, 0])[1] == pytest.approx(R_DF_MH[clusters], abs=1e-6)
    # the weights are sampling weights: rescaling them changes nothing
    g = cr2_weighted_ls(X, d["y"], cl, 7 * d["w"])
    assert g.params == pytest.approx(f.params) and g.vcov == pytest.approx(f.vcov)


def _r_available():
    if shutil.which("Rscript") is None:
        return False
    return subprocess.run(["Rscript", "-e", "library(clubSandwich)"], capture_output=True).returncode == 0


def _trial_frame():
    """A hand-built survey world: 40 randomized organizations (6 enrolled no one and never
    answer), 2 waves, an item with a true impact of 10 points."""
    rng = np.random.default_rng(7)
    n = 40
    orgs = pd.DataFrame({"ORG_ID": [f"O{k:02d}" for k in range(n)],
                         "ARM": np.where(np.arange(n) % 2 == 0, "intervention", "control"),
                         "N_PRACTITIONERS": rng.integers(1, 40, n), "HEALTH_SYSTEM": rng.random(n) < 0.5,
                         "RURAL": rng.random(n) < 0.3,
                         "ORG_TYPE": rng.choice(["primary_care", "cardiology", "multispecialty"], n),
                         # the contract's other organization columns (z_p of models.covariates)
                         "STRATUM": rng.choice(["South_small", "West_large"], n),
                         "REGION": rng.choice(["Northeast", "Midwest", "South", "West"], n),
                         "SELF_REPORTED_FFS_BENES": rng.integers(500, 20000, n),
                         "OTHER_CMS_MODELS": rng.choice(["", "MSSP"], n)})
    enrolling = orgs["ORG_ID"].iloc[:34]
    m = 20
    cohort = pd.DataFrame({"ORG_ID": np.repeat(enrolling.to_numpy(), m), "AGE": rng.normal(70, 6, 34 * m),
                           "SEX": rng.choice(["male", "female"], 34 * m), "RACE": rng.choice(["white", "black"], 34 * m),
                           "DUAL": rng.random(34 * m) < 0.2, "RISK": rng.uniform(0.15, 0.5, 34 * m),
                           "smoking": rng.random(34 * m) < 0.2, "diabetes": rng.random(34 * m) < 0.3,
                           "antihypertensive": rng.random(34 * m) < 0.6, "STRATUM": "high",
                           "RURAL": False, "HEALTH_SYSTEM": False, "ORG_TYPE": "primary_care"})
    rows = []
    for wave in (1, 2):
        for k, o in enumerate(enrolling):
            if rng.random() < 0.75:
                mh = orgs["ARM"].iloc[k] == "intervention"
                rows.append((o, wave, "PCT", 40 + 10 * mh + 3 * wave + rng.normal(0, 8)))
    survey = pd.DataFrame(rows, columns=["ORG_ID", "WAVE", "ITEM", "VALUE"])
    return orgs, cohort, survey


def test_every_randomized_organization_is_in_the_response_frame():
    orgs, cohort, survey = _trial_frame()
    frame = organization_covariates(orgs)
    frame[ORG_COVARIATES] = 0.0  # only the arm varies: the logit is saturated, p = the arm's response rate
    w, summary = nonresponse_weights(frame, survey)
    assert summary["organizations"] == 40 and len(w) == 80
    for (wave, mh), g in w.groupby(["WAVE", "MH"]):
        # each arm's respondents stand for all 20 randomized organizations of the arm (6 enrolled no one)
        assert g["NR_WEIGHT"].sum() == pytest.approx(20.0, rel=1e-6)
        assert g["P_RESPOND"].iloc[0] == pytest.approx(g["RESPONDED"].mean(), rel=1e-6)
    assert summary["models"]["wave 1"].startswith("logit")


def test_beneficiary_averages_by_hand():
    cohort = pd.DataFrame({"ORG_ID": ["A", "A", "B"], "AGE": [60.0, 80.0, 90.0], "SEX": ["male", "female", "male"],
                           "RACE": ["white", "black", "white"], "DUAL": [1.0, 0.0, 0.0], "RISK": [0.2, 0.2, 0.4],
                           "smoking": [1, 0, 0], "diabetes": [0, 0, 1], "antihypertensive": [1, 1, 0],
                           "STRATUM": ["medium", "high", "high"], "RURAL": False, "HEALTH_SYSTEM": False,
                           "ORG_TYPE": "primary_care"})
    x = beneficiary_averages(cohort, ["A", "B", "C"]).set_index("ORG_ID")
    assert x.loc["A", "AVG_AGE10"] == pytest.approx(0.0) and x.loc["B", "AVG_AGE10"] == pytest.approx(2.0)
    assert x.loc["A", "AVG_MALE"] == 0.5 and x.loc["A", "AVG_HIGH_RISK"] == 0.5
    # C enrolled no one: the mean over A and B, flagged
    assert x.loc["C", "AVG_AGE10"] == pytest.approx(1.0) and x.loc["C", "AVG_DUAL"] == pytest.approx(0.25)
    assert list(x["NO_ENROLLEES"]) == [0.0, 0.0, 1.0]


def test_one_impact_per_wave_matches_r_lm_with_weights_and_clubsandwich():
    orgs, cohort, survey = _trial_frame()
    # no organization-term limit here (34 respondents would keep the stratum only): the check is the
    # weighted CR2 with many covariates; the limit is tested below
    frame = organization_covariates(orgs, {**DEFAULT_COVARIATES, "organizations_per_term": 0})
    w, _ = nonresponse_weights(frame, survey)
    cov = beneficiary_averages(cohort, frame["ORG_ID"])
    res = {wave: equation3_impact(survey, w, cov, "PCT", wave) for wave in (1, 2)}
    for wave, r in res.items():
        assert r["estimable"] and r["wave"] == wave and r["cov_type"] == "CR2"
        assert "AVG_LOG_RISK" in r["covariates"] and "NO_ENROLLEES" in r["dropped_collinear_covariates"]
        assert abs(r["impact"] - 10) < 3 * r["se"]
        assert r["params"]["MH"] == r["impact"] and r["bse"]["MH"] == pytest.approx(r["se"])
    if not _r_available():
        pytest.skip("Rscript with clubSandwich not found: checked against the stored values only")
    for wave, r in res.items():
        d = equation3_frame(survey, w, cov, "PCT", wave)
        rhs = " + ".join(["MH"] + r["covariates"])
        code = ("suppressMessages(library(clubSandwich)); d <- read.csv(file('stdin')); "
                f"f <- lm(VALUE ~ {rhs}, data = d, weights = NR_WEIGHT); "
                "v <- vcovCR(f, cluster = d$ORG_ID, type = 'CR2'); t <- coef_test(f, vcov = v, test = 'Satterthwaite'); "
                "write.csv(data.frame(b = coef(f)['MH'], se = t$SE[2], df = t$df_Satt[2]), stdout(), row.names = FALSE)")
        out = subprocess.run(["Rscript", "-e", code], input=d.to_csv(index=False), capture_output=True, text=True,
                             check=True).stdout
        ref = pd.read_csv(io.StringIO(out)).iloc[0]
        assert r["impact"] == pytest.approx(ref["b"], abs=1e-6)
        assert r["se"] == pytest.approx(ref["se"], abs=1e-6)
        assert r["df"] == pytest.approx(ref["df"], abs=1e-6)


def test_too_few_respondents_is_not_estimable():
    orgs, cohort, survey = _trial_frame()
    frame = organization_covariates(orgs)
    few = survey[survey["ORG_ID"].isin(orgs["ORG_ID"].iloc[:12])]
    w, _ = nonresponse_weights(frame, few)
    r = equation3_impact(few, w, beneficiary_averages(cohort, frame["ORG_ID"]), "PCT", 1)
    assert not r["estimable"] and r["wave"] == 1 and r["reason"]


def test_the_organization_averages_share_the_organization_term_budget():
    """Equation 3 is a regression over organizations: the beneficiary averages x_p count against
    models.covariates.organizations_per_term after z_p. Wave 1 has 23 respondents; after the collinear
    drops z_p is the stratum (1 indicator), region (3), log size (1), type (2), rural, health system, other
    CMS models (1 each), then 8 averages. At 10 per term (2.3 terms) the stratum alone; at 5 (4.6) the
    stratum and region (4; log size would make 5); at 3 (7.67) also log size and type (7; rural would make
    8), no average; with no limit all 18 terms on 23 organizations."""
    orgs, cohort, survey = _trial_frame()

    def fit(k):
        frame = organization_covariates(orgs, {**DEFAULT_COVARIATES, "organizations_per_term": k})
        w, _ = nonresponse_weights(frame, survey)
        return equation3_impact(survey, w, beneficiary_averages(cohort, frame["ORG_ID"]), "PCT", 1)

    region = ["REGION_MIDWEST", "REGION_SOUTH", "REGION_WEST"]
    r10, r5, r3, r0 = fit(10), fit(5), fit(3), fit(0)
    assert r10["organization_terms_limited"]["organizations"] == 23
    assert r10["covariates"] == ["RAND_West_large"]
    assert r5["covariates"] == ["RAND_West_large", *region]
    assert r3["covariates"] == ["RAND_West_large", *region, "LOG_FFS_SIZE", "TYPE_CARDIOLOGY", "TYPE_MULTISPECIALTY"]
    assert "AVG_LOG_RISK" in r3["organization_terms_limited"]["dropped"]
    assert len(r0["covariates"]) == 18 and "AVG_LOG_RISK" in r0["covariates"]
    assert r0["organization_terms_limited"]["dropped"] == []
