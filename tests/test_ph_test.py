"""The proportional-hazards checks against R survival 3.5.3 (cox.zph and survSplit + coxph).

Reference values: Rscript benchmarks/r/ph_incidence_reference.R (writes tests/data/*_reference.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mheval.models.cox_engine import fit_cox
from mheval.models.ph_test import (
    fit_by_follow_up_year,
    schoenfeld_test,
    split_follow_up,
)

DATA = Path(__file__).parent / "data"
TERMS = {"MH": ["MH"], "x1": ["x1"], "x2": ["x2"], "factor(grp)": ["grpb", "grpc"]}


def _sim():
    d = pd.read_csv(DATA / "ph_incidence_sim.csv")
    X = pd.DataFrame({"MH": d["MH"], "x1": d["x1"], "x2": d["x2"], "grpb": (d["grp"] == "b") * 1.0,
                      "grpc": (d["grp"] == "c") * 1.0})
    return d, X


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_schoenfeld_test_matches_r_cox_zph(ties):
    d, X = _sim()
    z = schoenfeld_test(d["T"], d["E"], X, ties=ties, terms=TERMS)
    ref = pd.read_csv(DATA / "coxzph_reference.csv")
    ref = ref[ref["case"] == f"sim_{ties}"].set_index("term")
    assert list(z.index) == list(ref.index)  # MH, x1, x2, factor(grp) (2 df), GLOBAL
    assert np.allclose(z["chisq"], ref["chisq"], rtol=1e-7)
    assert (z["df"].to_numpy() == ref["df"].to_numpy()).all()
    assert np.allclose(z["p"], ref["p"], rtol=1e-6)
    # the treatment effect in the simulation is not proportional (HR 0.6 in year 1, 1 after)
    assert z.loc["MH", "p"] < 0.01


def test_schoenfeld_test_counting_process_with_weights_matches_r():
    cp = pd.read_csv(DATA / "cox_weights_counting.csv")
    beta = fit_cox(cp["stop"], cp["E"], cp[["a", "b", "c"]], start=cp["start"], weights=cp["W"]).params
    z = schoenfeld_test(cp["stop"], cp["E"], cp[["a", "b", "c"]], beta, start=cp["start"], weights=cp["W"])
    ref = pd.read_csv(DATA / "coxzph_reference.csv")
    ref = ref[ref["case"] == "counting_weights_efron"].set_index("term")
    assert list(z.index) == ["a", "b", "c", "GLOBAL"]
    assert np.allclose(z["chisq"], ref["chisq"], rtol=1e-7)
    assert np.allclose(z["p"], ref["p"], rtol=1e-6)


def test_schoenfeld_test_does_not_flag_proportional_hazards():
    rng = np.random.default_rng(3)
    n = 3000
    X = np.c_[rng.integers(0, 2, n), rng.normal(size=n)]
    t = rng.exponential(1 / (0.2 * np.exp(X @ [-0.5, 0.4])))
    c = rng.uniform(1, 5, n)
    z = schoenfeld_test(np.minimum(t, c), (t <= c).astype(int), X)
    assert list(z.index) == ["x0", "x1", "GLOBAL"] and (z["df"].to_numpy() == [1, 1, 2]).all()
    assert (z["p"] > 0.05).all()
    # a time-varying effect on the same data is flagged: x0's hazard ratio 0.3 before t = 1, 2 after
    h = 0.2 * np.exp(0.4 * X[:, 1])
    e1 = rng.exponential(1 / (h * np.where(X[:, 0] == 1, 0.3, 1)))
    t2 = np.where(e1 <= 1, e1, 1 + rng.exponential(1 / (h * np.where(X[:, 0] == 1, 2.0, 1))))
    z2 = schoenfeld_test(np.minimum(t2, c), (t2 <= c).astype(int), X)
    assert z2.loc["x0", "p"] < 1e-4


def test_split_follow_up_as_survsplit():
    sp = split_follow_up([0.5, 1.0, 2.5, 7.0], [1, 0, 1, 1], [1, 2, 3, 4])
    assert sp["row_of"].tolist() == [0, 1, 2, 2, 2, 3, 3, 3, 3, 3]  # a cut at exactly T adds no row
    assert sp["start"].tolist() == [0, 0, 0, 1, 2, 0, 1, 2, 3, 4]
    assert sp["stop"].tolist() == [0.5, 1.0, 1, 2, 2.5, 1, 2, 3, 4, 7.0]
    assert sp["event"].tolist() == [1, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    assert sp["episode"].tolist() == [1, 1, 1, 2, 3, 1, 2, 3, 4, 5]


def test_fit_by_follow_up_year_matches_r_survsplit_coxph_cluster():
    d, X = _sim()
    by = fit_by_follow_up_year(d, "T", "E", X, treatment="MH", cluster="ORG_ID", n_years=5, alpha=0.10)
    ref = pd.read_csv(DATA / "by_year_reference.csv")
    assert by["year"].tolist() == [1, 2, 3, 4, 5]
    assert np.allclose(by["log_hr"], ref["log_hr"], rtol=1e-7)
    assert np.allclose(by["se"], ref["se"], rtol=1e-7)  # cluster-robust by organization
    assert np.allclose(by["hr"], np.exp(ref["log_hr"]), rtol=1e-7)
    assert np.allclose(by["upper"], np.exp(ref["log_hr"] + 1.6448536269514722 * ref["se"]), rtol=1e-7)
    sp = split_follow_up(d["T"], d["E"], [1, 2, 3, 4])
    assert len(sp["stop"]) == ref["n_rows"].iloc[0]
    assert by["events_treated"].sum() + by["events_control"].sum() == d["E"].sum()
