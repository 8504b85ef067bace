"""Tests for mheval.risk (2013 ACC/AHA pooled cohort equations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mheval.risk import (
    PCE_COEFFICIENTS,
    PCE_GROUPS,
    modifiable_share,
    optimal_risk,
    pooled_cohort_risk,
    risk_stratum,
)

# Guideline worked example: age 55, TC 213, HDL 50, untreated SBP 120,
# non-smoker, no diabetes (Goff et al. 2013, Table A).
WORKED = dict(
    age=55, total_cholesterol=213, hdl=50, systolic_bp=120,
    bp_treated=False, smoker=False, diabetes=False,
)


# --------------------------------------------------------------------------- #
# known answers
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "sex, race, published",
    [
        ("female", "white", 0.021),
        ("female", "black", 0.030),
        ("male", "white", 0.053),  # rounded coefficients give ~0.0538
        ("male", "black", 0.061),
    ],
)
def test_guideline_worked_example(sex, race, published):
    risk = pooled_cohort_risk(sex=sex, race=race, **WORKED)
    assert isinstance(risk, float)
    assert risk == pytest.approx(published, abs=0.001)


def test_worked_example_vectorized_all_groups():
    risk = pooled_cohort_risk(
        sex=["female", "female", "male", "male"],
        race=["white", "black", "white", "black"],
        **WORKED,
    )
    np.testing.assert_allclose(risk, [0.021, 0.030, 0.053, 0.061], atol=0.001)


def test_hand_computed_aa_woman_treated_smoker_diabetic():
    # African-American woman, 65, smoker, diabetic, treated SBP 150, TC 240,
    # HDL 40.  Sum of beta*x written out term by term from Table A (AA women).
    ln_age = np.log(65.0)
    ln_tc = np.log(240.0)
    ln_hdl = np.log(40.0)
    ln_sbp = np.log(150.0)
    s = (
        17.114 * ln_age          # ln age
        + 0.0 * ln_age**2        # ln age squared (n/a)
        + 0.940 * ln_tc          # ln TC
        + 0.0 * ln_age * ln_tc   # ln age x ln TC (n/a)
        - 18.920 * ln_hdl        # ln HDL
        + 4.475 * ln_age * ln_hdl  # ln age x ln HDL
        + 29.291 * ln_sbp        # ln treated SBP
        - 6.432 * ln_age * ln_sbp  # ln age x ln treated SBP
        + 0.691 * 1              # current smoker
        + 0.0 * ln_age * 1       # ln age x smoker (n/a)
        + 0.874 * 1              # diabetes
    )
    expected = 1.0 - 0.9533 ** np.exp(s - 86.61)
    # sanity of the hand arithmetic itself
    assert s == pytest.approx(89.5060, abs=1e-3)
    assert expected == pytest.approx(0.5793, abs=1e-4)

    got = pooled_cohort_risk(65, "female", "black", 240, 40, 150, True, True, True)
    assert got == pytest.approx(expected, rel=1e-12)


def test_hand_computed_white_man_treated_smoker():
    # White man, 62, smoker, treated SBP 145, TC 190, HDL 45, no diabetes.
    ln_age, ln_tc, ln_hdl, ln_sbp = np.log([62.0, 190.0, 45.0, 145.0])
    s = (
        12.344 * ln_age
        + 11.853 * ln_tc
        - 2.664 * ln_age * ln_tc
        - 7.990 * ln_hdl
        + 1.769 * ln_age * ln_hdl
        + 1.797 * ln_sbp          # treated SBP term only
        + 7.837 * 1
        - 1.795 * ln_age * 1
        + 0.658 * 0
    )
    expected = 1.0 - 0.9144 ** np.exp(s - 61.18)
    got = pooled_cohort_risk(62, "male", "white", 190, 45, 145, 1, 1, 0)
    assert got == pytest.approx(expected, rel=1e-12)


def test_coefficient_table_shape_and_spot_values():
    assert list(PCE_COEFFICIENTS.columns) == list(PCE_GROUPS)
    assert PCE_COEFFICIENTS.shape == (15, 4)
    assert PCE_COEFFICIENTS.loc["ln_age_sq", "white_female"] == 4.884
    assert PCE_COEFFICIENTS.loc["ln_age_x_ln_treated_sbp", "aa_female"] == -6.432
    assert PCE_COEFFICIENTS.loc["mean", "white_male"] == 61.18
    assert PCE_COEFFICIENTS.loc["baseline_survival", "aa_male"] == 0.8954


# --------------------------------------------------------------------------- #
# vectorization and input handling
# --------------------------------------------------------------------------- #
def _random_cohort(n=200, seed=1):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(40, 80, n).astype(float),
            "sex": rng.choice(["female", "male", "Female", "MALE"], n),
            "race": rng.choice(["white", "black", "AA", "African American", "other"], n),
            "total_cholesterol": rng.uniform(130, 320, n),
            "hdl": rng.uniform(20, 100, n),
            "systolic_bp": rng.uniform(90, 200, n),
            "bp_treated": rng.integers(0, 2, n).astype(bool),
            "smoker": rng.integers(0, 2, n),
            "diabetes": rng.integers(0, 2, n).astype(bool),
        },
        index=np.arange(1000, 1000 + n),
    )


def test_vectorized_equals_elementwise_scalar():
    df = _random_cohort()
    vec = pooled_cohort_risk(**{c: df[c] for c in df.columns})
    assert isinstance(vec, np.ndarray) and vec.shape == (len(df),)
    scalar = [
        pooled_cohort_risk(**{c: row[c] for c in df.columns})
        for _, row in df.iterrows()
    ]
    np.testing.assert_allclose(vec, scalar, rtol=1e-12)
    assert np.all((vec > 0) & (vec < 1))


def test_broadcasting_scalars_against_arrays():
    ages = np.array([45, 55, 65, 75])
    vec = pooled_cohort_risk(ages, "male", "white", 213, 50, 120, False, False, False)
    expected = [
        pooled_cohort_risk(a, "male", "white", 213, 50, 120, False, False, False)
        for a in ages
    ]
    np.testing.assert_allclose(vec, expected)
    assert np.all(np.diff(vec) > 0)  # risk increases with age


def test_case_insensitive_labels_and_race_aliases():
    base = pooled_cohort_risk(sex="male", race="black", **WORKED)
    for sex in ["MALE", " Male "]:
        assert pooled_cohort_risk(sex=sex, race="black", **WORKED) == base
    for race in ["Black", "AA", "aa", "African American", "african american"]:
        assert pooled_cohort_risk(sex="male", race=race, **WORKED) == base
    white = pooled_cohort_risk(sex="male", race="white", **WORKED)
    for race in ["other", "Asian", "hispanic", None, np.nan]:
        assert pooled_cohort_risk(sex="male", race=race, **WORKED) == white


def test_bool_and_01_equivalent():
    a = pooled_cohort_risk(60, "female", "white", 200, 45, 140, True, True, False)
    b = pooled_cohort_risk(60, "female", "white", 200, 45, 140, 1, 1, 0)
    assert a == b


def test_binary_inputs_reject_other_values():
    with pytest.raises(ValueError, match="smoker"):
        pooled_cohort_risk(60, "female", "white", 200, 45, 140, 0, [0, 2], 0)


def test_treated_sbp_raises_risk_white_men():
    untreated = pooled_cohort_risk(sex="male", race="white", **{**WORKED, "bp_treated": False})
    treated = pooled_cohort_risk(sex="male", race="white", **{**WORKED, "bp_treated": True})
    assert treated > untreated
    # only the treated term is used: ratio of linear predictors is explicit
    ln_sbp = np.log(120.0)
    hr = np.exp((1.797 - 1.764) * ln_sbp)
    assert np.log(1 - treated) / np.log(1 - untreated) == pytest.approx(hr)


@pytest.mark.parametrize("sex", ["female", "male"])
@pytest.mark.parametrize("race", ["white", "black"])
def test_smoker_raises_risk(sex, race):
    non = pooled_cohort_risk(sex=sex, race=race, **{**WORKED, "smoker": False})
    smk = pooled_cohort_risk(sex=sex, race=race, **{**WORKED, "smoker": True})
    assert smk > non


def test_bad_sex_raises_naming_values():
    with pytest.raises(ValueError, match="sex") as exc:
        pooled_cohort_risk(
            [50, 60, 70], ["female", "M", "unknown"], "white", 200, 50, 120, 0, 0, 0
        )
    msg = str(exc.value)
    assert "'M'" in msg and "'unknown'" in msg and "2 value" in msg


# --------------------------------------------------------------------------- #
# missing values and out-of-range handling
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "field",
    ["age", "total_cholesterol", "hdl", "systolic_bp", "bp_treated", "smoker", "diabetes"],
)
def test_nan_propagates(field):
    kwargs = {k: np.array([v, v], dtype=float) for k, v in WORKED.items()}
    kwargs[field][1] = np.nan
    risk = pooled_cohort_risk(sex="male", race="white", **kwargs)
    assert np.isfinite(risk[0]) and np.isnan(risk[1])


def test_missing_sex_and_nullable_inputs_give_nan():
    risk = pooled_cohort_risk(
        age=pd.Series([55, 55, 55], dtype="Int64"),
        sex=pd.Series(["male", None, "female"]),
        race="white",
        total_cholesterol=213,
        hdl=50,
        systolic_bp=120,
        bp_treated=pd.Series([False, False, pd.NA], dtype="boolean"),
        smoker=0,
        diabetes=0,
    )
    assert risk[0] == pytest.approx(0.0538, abs=1e-3)
    assert np.isnan(risk[1]) and np.isnan(risk[2])


def test_scalar_nan_returns_nan_float():
    r = pooled_cohort_risk(np.nan, "male", "white", 213, 50, 120, 0, 0, 0)
    assert isinstance(r, float) and np.isnan(r)


def test_out_of_range_raise_default():
    with pytest.raises(ValueError) as exc:
        pooled_cohort_risk(
            [30, 35, 55, 85], "male", "white", [213, 213, 400, 213], 50, 120, 0, 0, 0
        )
    msg = str(exc.value)
    assert "age: 3 value(s)" in msg and "40-79" in msg
    assert "30" in msg and "85" in msg
    assert "total_cholesterol: 1 value(s)" in msg and "400" in msg
    assert "hdl" not in msg


@pytest.mark.parametrize(
    "field, bad",
    [("age", 39), ("total_cholesterol", 129), ("hdl", 101), ("systolic_bp", 201)],
)
def test_out_of_range_raise_each_variable(field, bad):
    with pytest.raises(ValueError, match=field):
        pooled_cohort_risk(sex="female", race="white", **{**WORKED, field: bad})


def test_range_bounds_are_inclusive():
    r = pooled_cohort_risk([40, 79], "male", "white", [130, 320], [20, 100], [90, 200], 0, 0, 0)
    assert np.all(np.isfinite(r))


def test_out_of_range_clip():
    clipped = pooled_cohort_risk(
        [30, 85], "male", "white", [100, 400], [10, 150], [80, 250], 0, 0, 0,
        out_of_range="clip",
    )
    at_bounds = pooled_cohort_risk(
        [40, 79], "male", "white", [130, 320], [20, 100], [90, 200], 0, 0, 0
    )
    np.testing.assert_allclose(clipped, at_bounds)


def test_out_of_range_nan():
    r = pooled_cohort_risk(
        [55, 30, 55, 55, 55], "female", "white", [213, 213, 0, 213, 213],
        [50, 50, 50, 500, 50], [120, 120, 120, 120, 250], 0, 0, 0,
        out_of_range="nan",
    )
    assert r[0] == pytest.approx(0.021, abs=0.001)
    assert np.isnan(r[1:]).all()


def test_out_of_range_bad_mode():
    with pytest.raises(ValueError, match="out_of_range"):
        pooled_cohort_risk(sex="male", race="white", **WORKED, out_of_range="ignore")


# --------------------------------------------------------------------------- #
# strata
# --------------------------------------------------------------------------- #
def test_risk_stratum_boundaries():
    cat = risk_stratum(np.array([0.30, 0.15, 0.1499, 0.2999, 0.9, 0.0, np.nan]))
    assert isinstance(cat, pd.Categorical)
    assert list(cat.categories) == ["low", "medium", "high"] and cat.ordered
    assert list(cat[:6]) == ["high", "medium", "low", "medium", "high", "low"]
    assert pd.isna(cat[6])


def test_risk_stratum_series_and_scalar_and_thresholds():
    s = pd.Series([0.05, 0.2, np.nan], index=["a", "b", "c"], name="risk")
    out = risk_stratum(s)
    assert isinstance(out, pd.Series) and list(out.index) == ["a", "b", "c"]
    assert out["a"] == "low" and out["b"] == "medium" and pd.isna(out["c"])
    assert risk_stratum(0.30) == "high"
    assert risk_stratum(0.15) == "medium"
    assert risk_stratum(0.1499) == "low"
    assert risk_stratum(0.10, high=0.20, medium=0.10) == "medium"
    assert risk_stratum(0.20, high=0.20, medium=0.10) == "high"
    with pytest.raises(ValueError):
        risk_stratum(0.1, high=0.1, medium=0.2)


# --------------------------------------------------------------------------- #
# optimal risk and modifiable share
# --------------------------------------------------------------------------- #
def test_optimal_risk_hand_case_and_modifiable_share():
    # White man, 60, at optimal levels: TC 170, HDL 50, untreated SBP 110,
    # non-smoker, no diabetes.
    ln_age, ln_tc, ln_hdl, ln_sbp = np.log([60.0, 170.0, 50.0, 110.0])
    s = (
        12.344 * ln_age
        + 11.853 * ln_tc
        - 2.664 * ln_age * ln_tc
        - 7.990 * ln_hdl
        + 1.769 * ln_age * ln_hdl
        + 1.764 * ln_sbp  # untreated SBP
    )
    opt_hand = 1.0 - 0.9144 ** np.exp(s - 61.18)
    opt = optimal_risk(60, "male", "white")
    assert opt == pytest.approx(opt_hand, rel=1e-12)
    assert opt == pytest.approx(0.0575, abs=1e-4)

    # equals pooled_cohort_risk at the optimal levels
    assert opt == pooled_cohort_risk(60, "male", "white", 170, 50, 110, 0, 0, 0)

    share = modifiable_share(0.20, 60, "male", "white")
    assert share == pytest.approx(1.0 - opt_hand / 0.20, rel=1e-12)


def test_modifiable_share_vectorized_clipped_and_nan():
    opt = optimal_risk(60, "male", "white")
    share = modifiable_share(
        np.array([0.20, opt, opt / 2, np.nan, 0.0]), 60, "male", "white"
    )
    assert share[0] == pytest.approx(1 - opt / 0.20)
    assert share[1] == 0.0
    assert share[2] == 0.0  # risk below optimal is clipped to 0
    assert np.isnan(share[3]) and np.isnan(share[4])
    assert np.all((share[:3] >= 0) & (share[:3] <= 1))


def test_modifiable_share_on_computed_risk():
    df = _random_cohort(50, seed=7)
    risk = pooled_cohort_risk(**{c: df[c] for c in df.columns})
    share = modifiable_share(risk, df["age"], df["sex"], df["race"])
    opt = optimal_risk(df["age"], df["sex"], df["race"])
    np.testing.assert_allclose(share, np.clip(1 - opt / risk, 0, 1))
    assert np.all((share >= 0) & (share <= 1))
