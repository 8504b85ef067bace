"""The one covariate specification of every model (config models.covariates), fixed before
randomization: the config's lists, the terms built by hand, the health-status (CMS-HCC) score, and
no post-randomization variable in any model's design."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mheval.models.covariates import (
    DEFAULT_COVARIATES,
    FORBIDDEN_TERMS,
    adjustment_covariates,
    check_no_post_randomization,
    independent_covariates,
)

ROOT = Path(__file__).resolve().parents[1]


def test_the_config_holds_the_default_specification():
    spec = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["models"]["covariates"]
    assert spec["beneficiary"] == DEFAULT_COVARIATES["beneficiary"]
    assert spec["organization"] == DEFAULT_COVARIATES["organization"]


def _frame():
    return pd.DataFrame({
        "ENROLL_DT": pd.to_datetime(["2017-01-01", "2018-01-01"]), "AGE": [70.0, 55.0], "SEX": ["male", "female"],
        "RACE": ["black", "white"], "DUAL": [1.0, np.nan], "PART_D": [np.nan, 0.0], "RISK": [0.2, 0.4],
        "smoking": [1, 0], "diabetes": [0, 1], "antihypertensive": [1, 1], "STRATUM": ["medium", "high"],
        "HCC_SCORE": [0.9, 1.7], "RAND_STRATUM": ["South_large", "Midwest_small"], "REGION": ["South", "Midwest"],
        "SELF_REPORTED_FFS_BENES": [999, 0], "ORG_TYPE": ["cardiology", "primary_care"], "RURAL": [True, False],
        "HEALTH_SYSTEM": [False, True], "OTHER_CMS_MODELS": ["MSSP;CPC+", None]})


def test_terms_by_hand():
    x = adjustment_covariates(_frame(), "high_medium")
    assert x["ENROLL_YEARS"].tolist() == pytest.approx([0.0, 365 / 365.25])
    assert x["AGE10"].tolist() == [0.0, -1.5] and x["MALE"].tolist() == [1.0, 0.0]
    assert x["DUAL"].tolist() == [1.0, 0.0] and x["DUAL_UNKNOWN"].tolist() == [0.0, 1.0]
    assert x["PART_D"].tolist() == [0.0, 0.0] and x["PART_D_UNKNOWN"].tolist() == [1.0, 0.0]
    assert x["HIGH_RISK"].tolist() == [0.0, 1.0] and x["HCC_SCORE"].tolist() == [0.9, 1.7]
    # randomization stratum: indicators of its levels, the first (sorted) the reference
    assert "RAND_Midwest_small" not in x and x["RAND_South_large"].tolist() == [1.0, 0.0]
    assert x["REGION_SOUTH"].tolist() == [1.0, 0.0] and x["REGION_MIDWEST"].tolist() == [0.0, 1.0]
    assert x["LOG_FFS_SIZE"].tolist() == pytest.approx([np.log(1000), 0.0])
    assert x["TYPE_CARDIOLOGY"].tolist() == [1.0, 0.0] and x["OTHER_CMS"].tolist() == [1.0, 0.0]
    assert "HIGH_RISK" not in adjustment_covariates(_frame(), "high")
    assert not set(x.columns) & set(FORBIDDEN_TERMS)


def test_every_organization_term_maps_back_to_its_covariate():
    from mheval.models.covariates import organization_covariate_of

    spec = dict(DEFAULT_COVARIATES)
    for name in spec["organization"]:
        x = adjustment_covariates(_frame(), "high_medium", {"beneficiary": [], "organization": [name]})
        assert x.columns.size and all(organization_covariate_of(c) == name for c in x.columns), name
    x = adjustment_covariates(_frame(), "high_medium", {"beneficiary": spec["beneficiary"], "organization": []})
    assert not [c for c in x.columns if organization_covariate_of(c)]


def test_a_missing_column_is_one_clear_error_and_unknown_names_are_rejected():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['HCC_SCORE'\].*2 rows"):
        adjustment_covariates(_frame().drop(columns="HCC_SCORE"), "high")
    with pytest.raises(ValueError, match="unknown covariate"):
        adjustment_covariates(_frame(), "high", {"beneficiary": ["age", "weight"], "organization": []})


def test_post_randomization_terms_are_refused():
    assert check_no_post_randomization(["AGE10", "C(YEAR)[1]:MH"]) == ["AGE10", "C(YEAR)[1]:MH"]
    for bad in ("LOG_ORG_SIZE", "WEIGHT", "ORG_N_ENROLLED"):
        with pytest.raises(ValueError, match=bad):
            check_no_post_randomization(["AGE10", bad])


def test_region_indicators_implied_by_the_strata_are_dropped_as_collinear():
    rng = np.random.default_rng(1)
    d = pd.concat([_frame()] * 20, ignore_index=True)
    d["RAND_STRATUM"] = np.where(rng.random(len(d)) < 0.5, d["REGION"] + "_large", d["REGION"] + "_small")
    d["MH"] = rng.integers(0, 2, len(d))
    d["AGE"] = rng.uniform(40, 79, len(d))
    x = adjustment_covariates(d, "high").assign(MH=d["MH"])
    covs = ["RAND_South_large", "RAND_South_small", "RAND_Midwest_small", "REGION_SOUTH", "AGE10"]
    covs = [c for c in covs if c in x]
    kept, dropped = independent_covariates(x, covs, year=None)
    assert "REGION_SOUTH" in dropped and "AGE10" not in dropped  # South = its two strata


def test_hcc_score_is_cms_hcc_from_baseline_diagnoses():
    """CMS-HCC V22 community relative factors (CMS's 2017 rate announcement, Table VI-1, as hccpy
    ships them): a man of 72, community, non-dual, aged: 0.379 (M70-74); E11.22 (diabetes with
    chronic complications) -> HCC18 0.318; I50.9 (heart failure) -> HCC85 0.323; the diabetes x
    CHF interaction 0.154; E11.9 (HCC19) is dropped under HCC18 by the hierarchy. A full-benefit
    dual man of 72 (CFA): 0.582 + HCC18 0.346. A woman of 68 with no baseline diagnosis: the
    demographic factor only (CNA F65-69, 0.312)."""
    pytest.importorskip("hccpy")
    from mheval.cohort.health_status import hcc_scores

    people = pd.DataFrame({"BENE_ID": ["a", "b", "c"], "AGE": [72, 72, 68], "SEX": ["male", "male", "female"],
                           "DUAL": [0.0, 1.0, np.nan]})
    dx = pd.DataFrame({"BENE_ID": ["a", "a", "a", "b"], "DX": ["E1122", "I509", "E119", "E1122"]})
    s = hcc_scores(people, dx, "22")
    assert s[0] == pytest.approx(0.379 + 0.318 + 0.323 + 0.154, abs=1e-9)
    assert s[1] == pytest.approx(0.582 + 0.346, abs=1e-9)
    assert s[2] == pytest.approx(0.312, abs=1e-9)



def test_hcc_scores_equal_hccpy_profile_per_beneficiary():
    """Beneficiaries whose codes differ only by codes hccpy does not map (Z00.00, R69, a typo), or by
    case, dots and spaces, share one call: every score still equals hccpy's profile of that
    beneficiary's own raw code list, including the age/sex edits (D66 maps to HCC48 for a woman only)."""
    import warnings

    pytest.importorskip("hccpy")
    from mheval.cohort.health_status import hcc_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from hccpy.hcc import HCCEngine
    raw = {"a": ["E1122", "I509", "Z0000"], "b": ["e11.22", " I509 ", "R69", "XXXXX"], "c": ["E1122", "I509"],
           "d": ["D66"], "e": ["D66", "Z0000"], "f": ["R69"], "g": []}
    people = pd.DataFrame({"BENE_ID": list(raw), "AGE": [72, 72, 72, 70, 70, 81, 58],
                           "SEX": ["male", "male", "female", "female", "male", "female", "male"],
                           "DUAL": [0.0, 0.0, 1.0, np.nan, 0.0, 0.0, 1.0]})
    dx = pd.DataFrame([(b, c) for b, codes in raw.items() for c in codes], columns=["BENE_ID", "DX"])
    engine = HCCEngine(version="22")
    expected = []
    for b, age, sex, dual in people[["BENE_ID", "AGE", "SEX", "DUAL"]].itertuples(index=False):
        dual = bool(dual > 0)
        expected.append(engine.profile(raw[b], age=age, sex="M" if sex == "male" else "F",
                                       elig=("CF" if dual else "CN") + ("A" if age >= 65 else "D"),
                                       orec="0" if age >= 65 else "1", medicaid=dual)["risk_score"])
    assert hcc_scores(people, dx, "22").tolist() == expected
    assert expected[0] == expected[1] and expected[3] != expected[4]  # the cases the test is about

def test_baseline_diagnoses_are_those_of_the_365_days_before_enrollment(tmp_path):
    """Beneficiary a enrols 2017-07-01: claims from 2016-07-01 to 2017-06-30 count (every diagnosis
    position, each code once), 2016-06-30 does not. Beneficiary b's only baseline claim is dated
    before ICD-10 (2015-10-01): counted, not scored."""
    import duckdb

    from mheval.cohort.health_status import baseline_diagnoses

    (tmp_path / "claims/inpatient").mkdir(parents=True)
    pd.DataFrame({"BENE_ID": ["a", "a", "a", "b"], "CLM_ID": [1, 2, 3, 4], "NCH_CLM_TYPE_CD": ["60"] * 4,
                  "CLM_FROM_DT": ["2016-06-30", "2016-07-01", "2017-06-30", "2015-09-01"],
                  "CLM_THRU_DT": ["2016-07-02", "2016-07-03", "2017-07-01", "2015-09-02"],
                  "NCH_WKLY_PROC_DT": ["2016-08-01"] * 3 + ["2015-10-01"], "CLM_PMT_AMT": [1, 1, 1, 1],
                  "PRNCPAL_DGNS_CD": ["I10", "E1122", "I509", "4280"], "ICD_DGNS_CD1": ["I10", "E1122", "I509", "4280"],
                  "ICD_DGNS_CD2": [None, "N183", None, None]}).to_csv(tmp_path / "claims/inpatient/inpatient_2016.csv",
                                                                       index=False)
    people = pd.DataFrame({"BENE_ID": ["a", "b"], "ENROLL_DT": pd.to_datetime(["2017-07-01", "2016-06-01"])})
    dx, n_icd9 = baseline_diagnoses(duckdb.connect(), tmp_path, people)
    assert dx.to_dict(orient="list") == {"BENE_ID": ["a", "a", "a"], "DX": ["E1122", "I509", "N183"]}
    assert n_icd9 == 1


def test_the_cohort_carries_the_randomization_stratum_ffs_size_and_hcc_score(trial, cohort):
    from mheval.contract import read_input

    people = cohort[0]
    orgs = read_input(trial[0], "organizations").set_index("ORG_ID")
    assert (people["RAND_STRATUM"] == people["ORG_ID"].map(orgs["STRATUM"])).all()
    assert (people["SELF_REPORTED_FFS_BENES"] == people["ORG_ID"].map(orgs["SELF_REPORTED_FFS_BENES"])).all()
    analyzed = people["EXCLUSION"] == ""
    assert people.loc[analyzed, "HCC_SCORE"].notna().all() and (people.loc[analyzed, "HCC_SCORE"] > 0).all()
    assert people.loc[~analyzed, "HCC_SCORE"].isna().all()  # scored for the analyzed only
    assert cohort[2]["hcc_beneficiaries_with_baseline_diagnoses"] > 0


def assert_no_post_randomization_terms(models_dir: Path, spec: dict) -> int:
    """Every term of every fitted model under ``models_dir`` (the coefficient tables of the result
    JSON files) is a design term (years, arm, intercept, subgroup cells) or a covariate of the
    specification, and none is forbidden. Returns the number of terms checked."""
    frame = _frame()
    allowed = set(adjustment_covariates(frame, "high_medium", spec).columns) | {"Y0", "Y0_MISSING"}
    n = 0
    for f in sorted(Path(models_dir).rglob("*.json")):
        res = json.loads(f.read_text())
        for key in ("coefficients", "coefficients_marginal"):
            for row in res.get(key) or []:
                term = str(row["term"])
                n += 1
                assert not any(term == b or term.startswith(b + "[") for b in FORBIDDEN_TERMS), (f, term)
                design = term in ("MH", "Intercept") or term.startswith(("C(YEAR)", "C(WAVE)"))
                assert design or term in allowed or term.startswith("RAND_"), (f.name, term)
    return n


def test_cox_leaves_out_indicators_without_events_on_one_side_and_needs_enough_organizations():
    from mheval.models.estimability import NotEstimable
    from mheval.models.equation4 import check_clusters_for_covariates, event_free_indicators

    x = pd.DataFrame({"tiny_stratum": [1, 1, 0, 0, 0, 0], "all_events": [0, 0, 1, 0, 1, 1],
                      "ok": [1, 0, 0, 1, 0, 1], "age": [60.0, 61, 62, 63, 64, 65]})
    event = [0, 0, 1, 0, 1, 1]
    # tiny_stratum: no event among its 1s; all_events: every event among its 1s (none among its 0s)
    assert event_free_indicators(x, event) == ["tiny_stratum", "all_events"]
    check_clusters_for_covariates(["a", "b", "c", "d"], ["MH"], "md")  # 4 > 1 + 2
    check_clusters_for_covariates(["a", "b", "c"], ["MH", "AGE10"], "robust")  # no correction, no floor
    with pytest.raises(NotEstimable, match="3 organizations for 2 terms"):
        check_clusters_for_covariates(["a", "b", "c"], ["MH", "AGE10"], "md")


def test_varying_agrees_with_nunique():
    import numpy as np
    import pandas as pd

    from mheval.models.covariates import varying

    d = pd.DataFrame({"const": [1.0] * 4, "nan_const": [np.nan, 2.0, 2.0, np.nan], "all_nan": [np.nan] * 4,
                      "two": [0.0, 1.0, 0.0, 0.0], "nan_two": [np.nan, 1.0, 3.0, 1.0], "ints": [3, 3, 3, 4],
                      "zeros": [0.0, -0.0, 0.0, 0.0], "flags": [True, False, True, True], "text": ["a", "a", "b", "a"],
                      "one_text": ["a"] * 4})
    assert varying(d, d.columns) == [c for c in d.columns if d[c].nunique() > 1]
    assert varying(d, d.columns) == ["two", "nan_two", "ints", "flags", "text"]


def test_pool_separated_levels_reference_and_other_levels():
    """A stratum whose rows all have the same binary outcome has no finite coefficient: pooled with the largest
    stratum that has both outcomes (the reference level included), a separated 0/1 term dropped, the rest kept."""
    import numpy as np
    import pandas as pd

    from mheval.models.covariates import pool_separated_levels

    rng = np.random.default_rng(3)
    n = 400
    level = rng.choice(["a", "b", "c", "d"], n, p=[0.02, 0.5, 0.3, 0.18])  # "a" (the reference) tiny
    y = rng.binomial(1, 0.3, n).astype(float)
    y[level == "a"] = 0.0  # the reference stratum: no event
    x01 = (rng.random(n) < 0.05).astype(float)
    y[x01 == 1] = 0.0  # a rare 0/1 covariate whose rows have no event
    d = pd.DataFrame({"Y": y, "RAND_b": (level == "b") * 1.0, "RAND_c": (level == "c") * 1.0,
                      "RAND_d": (level == "d") * 1.0, "X01": x01, "AGE": rng.normal(size=n)})
    covs, pooled = pool_separated_levels(d, "Y", ["RAND_b", "RAND_c", "RAND_d", "X01", "AGE"])
    # the reference "a" pooled with "b" (the largest): "b" becomes the reference, its indicator dropped
    assert covs == ["RAND_c", "RAND_d", "AGE"]
    assert set(pooled) == {"RAND_* the reference level", "X01"}
    assert (d.loc[level == "b", ["RAND_c", "RAND_d"]] == 0).all().all()
    assert (d.loc[level == "c", "RAND_c"] == 1).all()
    # a non-reference level separated: its rows take the largest level's indicator
    d2 = pd.DataFrame({"Y": np.r_[np.zeros(5), rng.binomial(1, 0.3, 200)],
                       "RAND_x": np.r_[np.ones(5), np.zeros(200)],
                       "RAND_y": np.r_[np.zeros(5), (np.arange(200) < 120) * 1.0]})
    covs2, pooled2 = pool_separated_levels(d2, "Y", ["RAND_x", "RAND_y"])
    assert covs2 == ["RAND_y"] and list(pooled2) == ["RAND_* RAND_x"]
    assert (d2.loc[:4, "RAND_y"] == 1).all()
    # nothing separated: nothing changes
    d3 = d2.assign(Y=np.r_[[1.0, 0, 0, 0, 0], d2["Y"].to_numpy()[5:]], RAND_x=np.r_[np.ones(5), np.zeros(200)])
    assert pool_separated_levels(d3.copy(), "Y", ["RAND_x"]) == (["RAND_x"], {})


def test_cox_pools_an_event_free_reference_level_with_the_largest_level():
    """A randomization stratum chosen as reference with no event (one small organization in a
    47-organization trial) makes every stratum indicator run off together: the largest level's
    indicator is left out (the reference pooled with it), and the fit then agrees with lifelines."""
    from lifelines import CoxPHFitter

    from mheval.models.cox_engine import fit_cox
    from mheval.models.equation4 import event_free_indicators

    rng = np.random.default_rng(7)
    n = 600
    level = rng.choice(3, size=n, p=[0.05, 0.6, 0.35])  # 0: the reference stratum
    mh = rng.integers(0, 2, n).astype(float)
    t = rng.exponential(1 / np.exp(-0.3 * mh), n)
    event = (rng.random(n) < 0.5).astype(float)
    event[level == 0] = 0.0  # the reference stratum has no event
    x = pd.DataFrame({"MH": mh, "RAND_b": (level == 1).astype(float), "RAND_c": (level == 2).astype(float),
                      "AGE10": rng.normal(7, 1, n)})
    naive = fit_cox(t, event, x.to_numpy(float))
    assert np.abs(naive.params[1:3]).min() > 10  # both stratum coefficients run off (monotone likelihood)
    free = event_free_indicators(x, event)
    assert free == ["RAND_b"]  # the largest level joins the reference
    keep = [c for c in x.columns if c not in free]
    fit = fit_cox(t, event, x[keep].to_numpy(float))
    assert fit.converged and np.abs(fit.params).max() < 5
    ref = CoxPHFitter().fit(x[keep].assign(T=t, E=event), "T", "E")
    np.testing.assert_allclose(fit.params, ref.params_[keep].to_numpy(), atol=1e-6)
    # a reference level with events is left alone
    event2 = event.copy()
    event2[np.flatnonzero(level == 0)[:3]] = 1.0
    assert event_free_indicators(x, event2) == []
