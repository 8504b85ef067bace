"""Cause of death: the National Death Index input (contract, link rule, validation), the code list,
the generator's causes of death, the composite "first MI, stroke or TIA, or coronary or
cerebrovascular death" in the time-to-event file, its disclosure relation, and its not-estimable
row when the NDI is unavailable."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mheval.contract import InputValidationError, validate_inputs
from mheval.contract.ndi import link_counts, link_ndi
from mheval.outcomes.codes import load_event_codes

ROOT = Path(__file__).resolve().parents[1]
CODES = ROOT / "config" / "codes" / "cv_death_icd10.csv"
D = pd.Timestamp


# --------------------------------------------------------------------------- code list and link rule


def test_code_list_classifies_causes_at_the_edges_of_the_ranges():
    codes = load_event_codes(CODES)
    assert set(codes["event"]) == {"coronary", "cerebrovascular"} and set(codes["code_system"]) == {"icd10"}
    assert codes["source"].str.contains("NCHS").all()

    def kind(code):
        hits = [r["event"] for _, r in codes.iterrows() if pd.Series([code]).str.contains(r["pattern"]).iloc[0]]
        return hits[0] if hits else None

    for code, want in [("I200", "coronary"), ("I219", "coronary"), ("I251", "coronary"), ("I259", "coronary"),
                       ("I600", "cerebrovascular"), ("I64", "cerebrovascular"), ("I694", "cerebrovascular"),
                       ("I269", None), ("I10", None), ("I500", None), ("I710", None), ("I709", None), ("G459", None),
                       ("C349", None), ("I119", None)]:
        assert kind(code) == want, code


def test_link_rule_on_hand_built_records():
    deaths = pd.DataFrame({"BENE_ID": ["a", "b", "c", "d", "e", "f"],
                           "DEATH_DT": [D("2019-03-01"), D("2019-03-01"), D("2019-03-01"), D("2019-03-01"),
                                        D("2020-05-05"), pd.NaT]})
    ndi = pd.DataFrame({"BENE_ID": ["a", "b", "c", "d", "f"],
                        "NDI_DEATH_DT": [D("2019-03-01"), D("2019-03-08"), D("2019-02-22"), D("2019-03-09"), D("2019-01-01")],
                        "UCOD": ["I219", "I639", "C349", "I251", "I219"]})
    out = link_ndi(ndi, deaths, tolerance_days=7).set_index("BENE_ID")
    # 0 days: agree; +7 and -7: within tolerance; +8: mismatch; MBSF only; NDI only
    assert out["LINK"].to_dict() == {"a": "agree", "b": "within_tolerance", "c": "within_tolerance",
                                     "d": "date_mismatch", "e": "no_ndi_record", "f": "no_enrollment_death"}
    assert out.loc["d", "DAYS_APART"] == 8 and out.loc["c", "DAYS_APART"] == -7
    # the cause is used only where the dates link; the MBSF date is kept
    assert out.loc[["a", "b", "c"], "UCOD"].tolist() == ["I219", "I639", "C349"]
    assert out.loc[["d", "e", "f"], "UCOD"].isna().all()
    assert out.loc["b", "DEATH_DT"] == D("2019-03-01")
    assert link_counts(out.reset_index()) == {"agree": 1, "within_tolerance": 2, "date_mismatch": 1,
                                              "no_enrollment_death": 1, "no_ndi_record": 1}
    assert link_ndi(ndi, deaths, tolerance_days=0).set_index("BENE_ID")["LINK"]["b"] == "date_mismatch"
    with pytest.raises(ValueError, match="at least 0 days"):
        link_ndi(ndi, deaths, tolerance_days=-1)


# --------------------------------------------------------------------------- validation


# the claims are not what these tests check: left out, validation reads the registry, MBSF and NDI
NO_CLAIMS = ("inpatient", "outpatient", "carrier", "snf", "hha", "hospice", "outpatient_revenue", "carrier_line",
             "pde", "ndc", "payments", "survey")


def _validate(d: Path, **kw) -> dict:
    return validate_inputs(d, unavailable=NO_CLAIMS + tuple(kw.pop("unavailable", ())), **kw)


def _ndi(d: Path) -> Path:
    return d / "ndi" / "cause_of_death.parquet"


def _rewrite(path: Path, change) -> None:
    df = pd.read_parquet(path)
    df["NDI_DEATH_DT"] = pd.to_datetime(df["NDI_DEATH_DT"])
    change(df).to_parquet(path, index=False)


def test_clean_ndi_passes_and_the_link_is_counted_as_planted(tiny):
    truth = json.loads((tiny / "truth.json").read_text())["cause_of_death"]
    report = _validate(tiny)
    assert report["rows"]["ndi"] == truth["n_deaths_all"] - truth["ndi_unmatched"]
    link = report["mess"]["ndi_link"]
    assert link["no_ndi_record"] == truth["ndi_unmatched"]
    assert link["within_tolerance"] == truth["ndi_date_within_tolerance"]
    assert link["date_mismatch"] == truth["ndi_date_mismatch"]
    assert link["no_enrollment_death"] == 0
    assert sum(link.values()) == truth["n_deaths_all"]
    if link["no_ndi_record"]:
        assert any("have no NDI record" in w for w in report["warnings"])


def test_dates_beyond_the_tolerance_are_counted_and_warned_not_an_error(tiny, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(tiny, d)
    base = _validate(d)["mess"]["ndi_link"]
    _rewrite(_ndi(d), lambda df: df.assign(NDI_DEATH_DT=df["NDI_DEATH_DT"].where(df.index >= 3, df["NDI_DEATH_DT"] + pd.Timedelta(days=400))))
    report = _validate(d)
    assert report["mess"]["ndi_link"]["date_mismatch"] >= base["date_mismatch"] + 1
    assert any("more than 7 days from the MBSF" in w for w in report["warnings"])
    # a wider tolerance links them again
    wide = _validate(d, death_date_tolerance_days=500)["mess"]["ndi_link"]
    assert wide["date_mismatch"] == 0


@pytest.mark.parametrize("change, column, rule", [
    (lambda df: pd.concat([df, df.head(1).assign(BENE_ID="B_NOT_A_BENE")], ignore_index=True), "BENE_ID",
     "refers to beneficiaries in demographics not found"),
    (lambda df: df.assign(UCOD=df["UCOD"].where(df.index >= 2, "I21.9")), "UCOD", "must match"),
    (lambda df: pd.concat([df, df.head(2)], ignore_index=True), "BENE_ID", "duplicate key"),
    (lambda df: df.assign(NDI_DEATH_DT=df["NDI_DEATH_DT"].where(df.index >= 1, D("1900-01-01"))), "NDI_DEATH_DT",
     "before the beneficiary's birth date"),
    (lambda df: df.drop(columns=["UCOD"]), "UCOD", "required column"),
], ids=["unknown_beneficiary", "cause_with_a_dot", "duplicate_beneficiary", "death_before_birth", "no_cause_column"])
def test_bad_ndi_records_give_one_clear_error(tiny, tmp_path, change, column, rule):
    d = tmp_path / "d"
    shutil.copytree(tiny, d)
    _rewrite(_ndi(d), change)
    with pytest.raises(InputValidationError) as info:
        _validate(d)
    match = [p for p in info.value.problems if "cause_of_death.parquet" in p.file and p.column == column
             and rule in p.rule]
    assert match, str(info.value)
    assert "Traceback" not in str(info.value)


def test_unavailable_ndi_is_not_validated(tiny, tmp_path):
    d = tmp_path / "d"
    shutil.copytree(tiny, d)
    _rewrite(_ndi(d), lambda df: df.assign(UCOD="not a code"))
    report = _validate(d, unavailable=("ndi",))
    assert report["unavailable"]["ndi"] == "unavailable" and "ndi_link" not in report["mess"]
    df = pd.read_parquet(_ndi(d))
    df.head(0).to_parquet(_ndi(d), index=False)  # an empty file says "not available here"
    assert _validate(d)["unavailable"]["ndi"] == "empty file (no rows)"


# --------------------------------------------------------------------------- the generator


def test_generator_ndi_agrees_with_the_enrollment_file(trial):
    from mheval.contract import read_input

    d, truth = trial
    ndi = read_input(d, "ndi")
    mbsf = read_input(d, "mbsf", columns=["BENE_ID", "BENE_DEATH_DT"]).dropna().drop_duplicates("BENE_ID")
    both = ndi.merge(mbsf, on="BENE_ID", how="left")
    # every NDI death is a death in the enrollment file ...
    assert both["BENE_DEATH_DT"].notna().all()
    apart = (both["NDI_DEATH_DT"] - both["BENE_DEATH_DT"]).dt.days.abs()
    # ... on the same date, except the planted 1-3 and 30-200 day differences
    c = truth["cause_of_death"]
    assert int(((apart >= 1) & (apart <= 3)).sum()) == c["ndi_date_within_tolerance"]
    assert int((apart >= 30).sum()) == c["ndi_date_mismatch"]
    assert int((apart == 0).sum()) == len(ndi) - c["ndi_date_within_tolerance"] - c["ndi_date_mismatch"]
    assert len(mbsf) == c["n_deaths_all"] and len(ndi) == c["n_deaths_all"] - c["ndi_unmatched"]
    # every coronary or cerebrovascular death is a death in the enrollment file on the same date
    # (or one of the planted date differences)
    cv = both[both["UCOD"].str.match(r"^I2[0-5]|^I6[0-9]")]
    assert len(cv) > 0 and cv["BENE_DEATH_DT"].notna().all()
    assert (apart[cv.index] == 0).mean() > 0.95


def test_generator_cv_deaths_before_an_event_are_calibrated(trial):
    """Control CV deaths before a first event: about 3.3 per 1,000 person-years (published composite
    20.3 vs first event 17.0 in control), within sampling error."""
    truth = trial[1]
    py = sum(truth["realized_rates"][f"{s}_control"]["person_years_event"] for s in ("high", "medium"))
    rate = 1000 * truth["cause_of_death"]["n_cv_deaths_before_event"]["control"] / py
    assert abs(rate - 3.3) < 4 * 1000 * np.sqrt(3.3 / 1000 / py) + 0.15 * 3.3, rate
    assert 0.08 < truth["cause_of_death"]["cv_share_of_deaths"] < 0.25


def test_generator_cv_share_of_deaths_by_history():
    from mheval.synth.death_causes import causes_of_death
    from mheval.synth.params import resolve_params

    params = resolve_params()
    n = 60_000
    enroll = np.datetime64("2017-06-01")
    death = np.full(n, enroll + np.timedelta64(700, "D"))
    event = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    k = n // 3  # thirds: no event, event 100 days before death, event 600 days before death
    event[k:2 * k] = death[k:2 * k] - np.timedelta64(100, "D")
    event[2 * k:] = death[2 * k:] - np.timedelta64(600, "D")
    b = pd.DataFrame({"BENE_ID": [f"B{i}" for i in range(n)], "death_dt": death, "event_dt": event,
                      "event_type": np.where(np.isnat(event), "", "mi")})
    ndi, info = causes_of_death(np.random.default_rng(1), b, params)
    p = params["cv_death"]
    for part, want in ((slice(0, k), p["share_no_event"]), (slice(k, 2 * k), p["share_within_year_of_event"]),
                       (slice(2 * k, n), p["share_later_after_event"])):
        got = info["cv_death"][part].mean()
        assert abs(got - want) < 4 * np.sqrt(want * (1 - want) / k), (got, want)
    # the causes agree with the code list: CV deaths coded I20-I25 or I60-I69, others never
    cause = pd.Series(info["cause"])
    assert cause[info["cv_death"]].str.match(r"^I2[0-5]|^I6[0-9]").all()
    assert not cause[~info["cv_death"]].str.match(r"^I2[0-5]|^I6[0-9]").any()
    # after an MI, coronary deaths are the commoner
    assert cause[k:2 * k][info["cv_death"][k:2 * k]].str.startswith("I2").mean() > 0.7


def test_truth_records_the_composite_hazard_ratio():
    from mheval.synth.death_causes import composite_truth
    from mheval.synth.params import resolve_params

    params = resolve_params({"effects": {"hr_event": 0.8, "hr_death": 1.0}, "cv_death": {"share_no_event": 0.25}})
    # two people per arm, hazards (without the effect) 0.02 event and 0.04 death: by hand
    b = pd.DataFrame({"mh": [1, 1, 0, 0], "h_event": [0.02 * 0.8] * 2 + [0.02] * 2, "h_death": [0.04] * 4})
    t = composite_truth(b, params, np.ones(4, bool))
    # (0.8 * 0.08 + 1.0 * 0.25 * 0.16) / (0.08 + 0.25 * 0.16) = 0.104 / 0.12
    assert t["hr_event_cvdeath"] == pytest.approx(0.104 / 0.12, abs=1e-6) and not t["exact"]
    assert t["share_of_composite_hazard_cv_death"] == pytest.approx(0.04 / 0.12, abs=1e-4)


# --------------------------------------------------------------------------- time-to-event


def test_composite_on_a_hand_built_case():
    from mheval.analysis.time_to_event import YEAR, time_to_event_columns

    fu_end = D("2021-12-31")
    e = D("2018-01-01")
    rows = [  # id, event, death, FFS end, cause type -> composite, censor
        ("mi_then_cv_death", D("2019-01-01"), D("2019-06-01"), None, "coronary", 1, "event", D("2019-01-01")),
        ("cv_death", None, D("2020-01-10"), None, "cerebrovascular", 1, "cv_death", D("2020-01-10")),
        ("cancer_death", None, D("2020-01-10"), None, None, 0, "other_death", D("2020-01-10")),
        ("event_on_death_day", D("2020-02-02"), D("2020-02-02"), None, "coronary", 1, "event", D("2020-02-02")),
        ("cv_death_after_ma", None, D("2020-06-15"), D("2019-12-31"), "coronary", 0, "loss_of_ffs", D("2019-12-31")),
        ("cv_death_after_fu", None, D("2022-03-01"), None, "coronary", 0, "end_of_follow_up", fu_end),
        ("alive", None, None, None, None, 0, "end_of_follow_up", fu_end),
    ]
    df = pd.DataFrame({"BENE_ID": [r[0] for r in rows], "ENROLL_DT": e, "EVENT_DT": [r[1] for r in rows],
                       "EVENT_TYPE": ["mi" if r[1] is not None else None for r in rows],
                       "DEATH_DT": [r[2] for r in rows], "FFS_END_DT": [r[3] for r in rows],
                       "CV_DEATH_TYPE": [r[4] for r in rows]})
    out = time_to_event_columns(df, fu_end).set_index("BENE_ID")
    for r in rows:
        got = out.loc[r[0]]
        assert (got["EVENT_CVDEATH"], got["EVENT_CVDEATH_CENSOR"]) == (r[5], r[6]), r[0]
        assert got["T_EVENT"] == pytest.approx(((r[7] - e).days + 1) / YEAR), r[0]
    # composite events = first events + CV deaths before an event (the disclosure relation)
    died_first_cv = (out["EVENT_CVDEATH_CENSOR"] == "cv_death").sum()
    assert out["EVENT_CVDEATH"].sum() == out["EVENT"].sum() + died_first_cv
    assert out.loc["cv_death_after_fu", "CV_DEATH"] == 0 and out.loc["mi_then_cv_death", "CV_DEATH"] == 1
    # without the cause of death, the composite is missing (the outcome is left out of the run)
    gone = time_to_event_columns(df.drop(columns=["CV_DEATH_TYPE"]), fu_end)
    assert gone["EVENT_CVDEATH"].isna().all() and (gone["EVENT"] == out["EVENT"].to_numpy()).all()


@pytest.fixture(scope="module")
def clean_trial(tmp_path_factory):
    """A trial without NDI link mess, so the composite's events are exactly the truth's, and with a
    large effect (hazard ratios 0.5) that a trial this small can recover with the full covariate
    specification (13 organization terms on about 45 organizations cost precision)."""
    from mheval.synth import generate_trial

    out = tmp_path_factory.mktemp("clean_ndi")
    generate_trial(out, scale=0.02, seed=3, overrides={"cv_death": {"ndi_unmatched": 0.0, "ndi_date_within_tolerance": 0.0,
                                                                   "ndi_date_mismatch": 0.0},
                                                      "effects": {"hr_event": 0.5, "hr_death": 0.5}})
    return out, json.loads((out / "truth.json").read_text())


@pytest.fixture(scope="module")
def clean_tte(clean_trial, config):
    """The analyzed cohort of the clean trial, its config with a full runout and its time-to-event file."""
    from mheval.analysis import build_time_to_event
    from mheval.cohort import build_cohort

    people = build_cohort(clean_trial[0], config)[0]
    analyzed = people[people["EXCLUSION"] == ""].reset_index(drop=True)
    cfg = {**config, "claims": {"runout_date": "2030-01-01", "runout_lag_days": 0}}
    return analyzed, cfg, build_time_to_event(clean_trial[0], analyzed, cfg)


def test_composite_events_match_truth(clean_trial, clean_tte):
    from mheval.analysis import build_time_to_event

    d, truth = clean_trial
    analyzed, cfg, tte = clean_tte
    c = truth["cause_of_death"]
    for mh, arm in ((1, "intervention"), (0, "control")):
        t = tte[tte["MH"] == mh]
        assert t["EVENT_CVDEATH"].sum() == c["n_composite_events"][arm]
        assert (t["EVENT_CVDEATH_CENSOR"] == "cv_death").sum() == c["n_cv_deaths_before_event"][arm]
        assert t["CV_DEATH"].sum() == c["n_cv_deaths"][arm]
    assert set(tte.loc[tte["DEATH_DT"].notna(), "DEATH_CAUSE_LINK"]) == {"agree"}
    # no NDI: the composite is missing, the other outcomes unchanged
    without = build_time_to_event(d, analyzed, cfg, cause_of_death=False)
    assert without["EVENT_CVDEATH"].isna().all() and set(without["DEATH_CAUSE_LINK"]) == {"unavailable"}
    assert (without["EVENT"].to_numpy() == tte["EVENT"].to_numpy()).all()


def test_composite_hazard_ratio_recovers_the_truth(clean_trial, clean_tte):
    """The composite's frailty-model interval covers its true hazard ratio (0.5: both hazard ratios
    0.5) and its 90% interval excludes 1; it counts the first events plus the CV deaths before an event.

    One trial, so the coverage check uses the 99% interval (t with the result's df): a 90% interval
    misses the truth in one trial in ten whatever the estimator. This seed's 90% intervals (47
    organizations, the stratum the only organization covariate under models.covariates.organizations_per_term)
    are 0.514-0.823 (frailty) and 0.500-0.845 (marginal): they miss 0.5 by a hair (with all 13
    organization terms: 0.401-0.800)."""
    from scipy import stats

    from mheval.models.equation4 import survival_impact

    truth = clean_trial[1]
    assert truth["cause_of_death"]["hr_event_cvdeath"] == pytest.approx(0.5) and truth["cause_of_death"]["exact"]
    tte = clean_tte[2]
    r = survival_impact(tte, "event_cvdeath", "high_medium")
    assert r["estimable"] and r["outcome_label"].endswith("coronary or cerebrovascular death")
    assert r["upper"] < 1, (r["lower"], r["hr"], r["upper"])
    for fit in (r, r["marginal"]):
        q = stats.t.ppf(0.995, fit["df"]) if fit.get("df") else stats.norm.ppf(0.995)
        assert abs(fit["log_hr"] - np.log(0.5)) <= q * fit["se"], (fit["hr"], fit["se"])
    e = survival_impact(tte, "event", "high_medium")
    assert r["n_events"] == e["n_events"] + int((tte["EVENT_CVDEATH_CENSOR"] == "cv_death").sum()) > e["n_events"]


# --------------------------------------------------------------------------- unavailable path and disclosure


def test_without_the_ndi_the_composite_is_a_not_estimable_row(config):
    from mheval.contract.availability import available_inputs, restrict_config
    from mheval.report.impact_tables import hazard_ratio_table, left_out_results

    assert "event_cvdeath" in config["models"]["survival_outcomes"]
    for data in ({"unavailable": ["ndi"]}, {"layout": "desynpuf"}):
        cfg = copy.deepcopy(config)
        cfg["data"].update(data)
        run, left_out, _ = restrict_config(cfg, available_inputs(cfg))
        assert "event_cvdeath" not in run["models"]["survival_outcomes"]
        assert {"event", "death"} <= set(run["models"]["survival_outcomes"])
        reason = left_out["event_cvdeath"]
        assert "National Death Index" in reason and reason.endswith("unavailable")
        rows = hazard_ratio_table(left_out_results({"event_cvdeath": reason}, ["high", "high_medium"], alpha=0.1))
        assert len(rows) == 2 and rows["outcome"].str.contains("coronary or cerebrovascular death").all()
        assert rows["note"].str.startswith("not estimable: needs the National Death Index").all()


def test_composite_minus_first_events_is_protected():
    from mheval.disclosure import Rule, declare, feasible_ranges, protect
    from mheval.disclosure.protect import shown_cells
    from mheval.models.equation4 import OUTCOMES

    def rows(label, ev_i, ev_c):
        return [{"outcome": label, "population": p, "n_events_intervention": ev_i[k], "n_events_control": ev_c[k],
                 "hazard_ratio": 0.9} for k, p in enumerate(("High risk", "Medium risk", "High + medium risk"))]

    # 4 CV deaths before an event in the high-risk intervention arm: composite 64 vs first events 60
    hr = pd.DataFrame(rows(OUTCOMES["event"][2], [60, 80, 140], [50, 70, 120])
                      + rows(OUTCOMES["event_cvdeath"][2], [64, 95, 159], [70, 90, 160]))
    lay = declare({"hazard_ratios": hr})
    key = "cv_deaths_before_event:high:intervention"
    assert feasible_ranges(lay, shown_cells(lay, {"hazard_ratios": hr}))[key] == (4, 4)
    rule = Rule(min_cell=11, protection_width=10)
    out = protect({"hazard_ratios": hr}, rule).tables["hazard_ratios"]
    lay = declare({"hazard_ratios": out})
    lo, hi = feasible_ranges(lay, shown_cells(lay, {"hazard_ratios": out}))[key]
    assert rule.violation(lo, hi) is None, (lo, hi)
