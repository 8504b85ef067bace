"""The pre-specified limit on organization-level covariates with few organizations
(mheval.models.covariates.limit_organization_terms; config models.covariates.organizations_per_term;
docs/covariates.md): the rule on hand-built term lists, and every model entry point applying it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mheval.config import check_config
from mheval.models.covariates import (
    DEFAULT_COVARIATES,
    limit_organization_terms,
)

ROOT = Path(__file__).resolve().parents[1]

# the synthetic trial's organization terms: 7 stratum indicators, 3 region indicators (implied by the strata,
# so dropped as collinear before the limit), log size, 2 type indicators, rural, health system, other CMS models
STRATA = [f"RAND_S{i}" for i in range(2, 9)]
ORG = STRATA + ["LOG_FFS_SIZE", "TYPE_CARDIOLOGY", "TYPE_MULTISPECIALTY", "RURAL", "HEALTH_SYSTEM", "OTHER_CMS"]
BENE = ["AGE10", "MALE", "HCC_SCORE", "Y0", "Y0_MISSING"]


def test_47_organizations_keep_the_stratum_only_and_307_or_342_keep_all_13_terms():
    covs = BENE[:2] + ORG + BENE[2:]  # beneficiary terms anywhere in the list are never touched
    kept, rec = limit_organization_terms(covs, 47)
    assert kept == BENE[:2] + STRATA + BENE[2:]
    assert rec["max_terms"] == pytest.approx(4.7) and rec["organizations_per_term"] == 10
    assert rec["kept"] == STRATA and rec["dropped"] == ORG[7:]
    assert rec["dropped_covariates"] == ["log_ffs_size", "org_type", "rural", "health_system", "other_cms_models"]
    assert "47 organizations allow 4.7" in rec["reason"]
    for G in (307, 342):
        kept, rec = limit_organization_terms(covs, G)
        assert kept == covs and rec["dropped"] == [] and rec["reason"] is None and len(rec["kept"]) == 13


def test_the_terms_enter_in_the_listed_order_while_within_the_budget():
    covs = STRATA + ["LOG_FFS_SIZE", "TYPE_CARDIOLOGY", "TYPE_MULTISPECIALTY", "RURAL", "HEALTH_SYSTEM", "OTHER_CMS"]
    # G = 100: 10 terms: 7 strata + log size (8) + type's 2 (10); rural would make 11
    assert limit_organization_terms(covs, 100)[1]["kept"] == STRATA + ["LOG_FFS_SIZE", "TYPE_CARDIOLOGY",
                                                                         "TYPE_MULTISPECIALTY"]
    # G = 99: 9.9 terms: type's two indicators would make 10 > 9.9, and nothing after type enters either
    # (rural alone would fit: the rule keeps a prefix of the list, never skips ahead)
    _, rec = limit_organization_terms(covs, 99)
    assert rec["kept"] == STRATA + ["LOG_FFS_SIZE"]
    assert rec["dropped_covariates"] == ["org_type", "rural", "health_system", "other_cms_models"]
    # another order in the specification: rural first
    spec = {**DEFAULT_COVARIATES, "organization": ["rural", "randomization_stratum", "org_type", "log_ffs_size"]}
    _, rec = limit_organization_terms(covs[:10] + ["RURAL"], 100, spec)
    assert rec["kept"] == STRATA + ["TYPE_CARDIOLOGY", "TYPE_MULTISPECIALTY", "RURAL"]  # in the order of covs
    assert rec["dropped_covariates"] == ["log_ffs_size"]
    # a covariate with no term in the model (constant or collinear, e.g. region) costs nothing
    assert limit_organization_terms(STRATA + ["RURAL"], 80)[1]["kept"] == STRATA + ["RURAL"]


def test_the_stratum_is_kept_however_few_the_organizations_and_no_limit_keeps_everything():
    kept, rec = limit_organization_terms(STRATA + ["RURAL"], 3)
    assert kept == STRATA and rec["dropped"] == ["RURAL"]
    for k in (0, None):
        spec = {**DEFAULT_COVARIATES, "organizations_per_term": k}
        kept, rec = limit_organization_terms(ORG, 12, spec)
        assert kept == ORG and rec["max_terms"] is None and rec["reason"] is None
    with pytest.raises(ValueError, match="organizations_per_term"):
        limit_organization_terms(ORG, 12, {**DEFAULT_COVARIATES, "organizations_per_term": -1})


def test_config_and_schema_hold_the_limit():
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert cfg["models"]["covariates"]["organizations_per_term"] == DEFAULT_COVARIATES["organizations_per_term"] == 10
    for ok in (0, None, 5.5):
        cfg["models"]["covariates"]["organizations_per_term"] = ok
        check_config(cfg, ROOT / "config" / "schema.yaml")
    for bad in (-1, "ten"):
        cfg["models"]["covariates"]["organizations_per_term"] = bad
        with pytest.raises(Exception, match="organizations_per_term"):
            check_config(cfg, ROOT / "config" / "schema.yaml")


# one small trial through the model entry points: 20 organizations in 2 randomization strata, a
# specification with the stratum, rural and health system; 10 organizations per term allow 2 terms:
# the stratum's indicator and rural, not health system
SPEC = {"beneficiary": ["age"], "organization": ["randomization_stratum", "rural", "health_system"],
        "organizations_per_term": 10}
NO_LIMIT = {**SPEC, "organizations_per_term": 0}


def _organizations(n_org=20, seed=1):
    rng = np.random.default_rng(seed)
    org = pd.DataFrame({"ORG_ID": [f"o{i:02d}" for i in range(n_org)],
                        "STRATUM": np.where(np.arange(n_org) < n_org // 2, "A", "B"),
                        "ARM": np.tile(["intervention", "control"], n_org // 2),
                        "RURAL": rng.permutation(np.arange(n_org) % 3 == 0),
                        "HEALTH_SYSTEM": rng.permutation(np.arange(n_org) % 2 == 0),
                        "N_PRACTITIONERS": rng.integers(1, 30, n_org), "ORG_TYPE": "primary_care"})
    return org


def _beneficiaries(org, per_org=12, seed=2):
    rng = np.random.default_rng(seed)
    b = org.loc[np.repeat(org.index, per_org)].reset_index(drop=True)
    n = len(b)
    b["BENE_ID"] = [f"b{i}" for i in range(n)]
    b["MH"] = (b["ARM"] == "intervention").astype(int)
    b["RAND_STRATUM"] = b["STRATUM"]
    b["STRATUM"] = "high"  # the risk stratum (population)
    b["AGE"] = rng.normal(72, 6, n)
    u = rng.normal(0, 0.3, len(org))[pd.factorize(b["ORG_ID"])[0]]
    b["T_EVENT"] = rng.exponential(1 / np.exp(-1 + u + 0.3 * b["RURAL"])).clip(max=5.0)
    b["EVENT"] = (b["T_EVENT"] < 5.0).astype(int)
    b["T_DEATH"], b["DEATH"] = b["T_EVENT"], b["EVENT"]
    return b


def test_equation1_applies_the_limit():
    from mheval.models.equation1 import equation1_impact

    b = _beneficiaries(_organizations())
    rng = np.random.default_rng(3)
    by = pd.concat([b.assign(YEAR=t) for t in (0, 1, 2)], ignore_index=True)
    by["WEIGHT"] = 1.0
    by["spend"] = 100 + 10 * by["RURAL"] + 5 * by["HEALTH_SYSTEM"] + rng.normal(0, 20, len(by))
    by["spend_y0"] = 100 + rng.normal(0, 20, len(by))
    r = equation1_impact(by, "spend", "high", covariates=SPEC)
    terms = [c["term"] for c in r["coefficients"]]
    assert "RAND_B" in terms and "RURAL" in terms and "HEALTH_SYSTEM" not in terms
    assert r["organization_terms_limited"]["dropped"] == ["HEALTH_SYSTEM"]
    assert r["organization_terms_limited"]["organizations"] == 20
    r = equation1_impact(by, "spend", "high", covariates=NO_LIMIT)
    assert "HEALTH_SYSTEM" in [c["term"] for c in r["coefficients"]]
    assert r["organization_terms_limited"]["dropped"] == []


def test_cox_and_the_survival_frame_apply_the_limit():
    from mheval.models.equation4 import survival_frame, survival_impact

    tte = _beneficiaries(_organizations())
    x, cov = survival_frame(tte, "event", "high", SPEC)
    assert cov == ["MH", "AGE10", "RAND_B", "RURAL"]
    assert x.attrs["organization_terms_limited"]["dropped_covariates"] == ["health_system"]
    r = survival_impact(tte, "event", "high", covariates=SPEC, cox_cov_type="robust")
    assert r["organization_terms_limited"]["dropped"] == ["HEALTH_SYSTEM"]
    assert "HEALTH_SYSTEM" not in [c["term"] for c in r["coefficients_marginal"]]
    assert survival_frame(tte, "event", "high", NO_LIMIT)[1] == ["MH", "AGE10", "RAND_B", "RURAL", "HEALTH_SYSTEM"]


def test_equation3_limits_z_p_by_the_responding_organizations():
    from mheval.models.equation3 import equation3_impact, nonresponse_weights, organization_covariates

    org = _organizations(n_org=24)
    rng = np.random.default_rng(4)
    survey = pd.DataFrame({"ORG_ID": org["ORG_ID"], "WAVE": 1, "ITEM": "X",
                           "VALUE": rng.normal(0, 1, len(org)) + 0.5 * org["RURAL"]})
    survey = survey.iloc[:20]  # 20 of 24 respond: 2 terms allowed
    averages = pd.DataFrame({"ORG_ID": org["ORG_ID"], "AVG_AGE10": rng.normal(0, 1, len(org))})

    def fit(spec):
        frame = organization_covariates(org, spec)
        weights, _ = nonresponse_weights(frame, survey)
        return equation3_impact(survey, weights, averages, "X", 1)

    r = fit(SPEC)
    assert r["n_organizations"] == 20
    # a regression over organizations: the x_p averages are organization-level terms too, after z_p, and
    # HEALTH_SYSTEM (the third term) stops the list: it and the average after it are left out
    assert r["covariates"] == ["RAND_B", "RURAL"]
    assert r["organization_terms_limited"]["dropped"] == ["HEALTH_SYSTEM", "AVG_AGE10"]
    assert r["organization_terms_limited"]["dropped_covariates"] == ["health_system", "AVG_AGE10"]
    assert {"HEALTH_SYSTEM", "AVG_AGE10"} <= set(fit(NO_LIMIT)["covariates"])
