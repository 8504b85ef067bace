"""2013 ACC/AHA pooled cohort equations for 10-year ASCVD risk.

Source
------
Goff DC Jr, Lloyd-Jones DM, Bennett G, et al. 2013 ACC/AHA Guideline on the
Assessment of Cardiovascular Risk: a report of the American College of
Cardiology/American Heart Association Task Force on Practice Guidelines.
Circulation. 2014;129(25 Suppl 2):S49-S73. doi:10.1161/01.cir.0000437741.48606.98
(Table A, "Equation Parameters of the Pooled Cohort Equations for Estimation of
10-Year Risk of Hard ASCVD", and its worked example.)

The 10-year risk of a first hard ASCVD event is

    risk = 1 - S10 ** exp(sum(beta * x) - mean)

where ``x`` are the (log-transformed) risk factors, ``beta`` the sex- and
race-specific coefficients, ``mean`` the group mean of ``sum(beta * x)`` and
``S10`` the group baseline 10-year survival.  Only one of the treated/untreated
systolic blood pressure terms applies to a person.

Valid input ranges are those of the ACC/AHA ASCVD risk calculator: age 40-79
years, total cholesterol 130-320 mg/dL, HDL cholesterol 20-100 mg/dL and
systolic blood pressure 90-200 mmHg.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "OPTIMAL_LEVELS",
    "PCE_COEFFICIENTS",
    "PCE_GROUPS",
    "VALID_RANGES",
    "modifiable_share",
    "optimal_risk",
    "pooled_cohort_risk",
    "risk_stratum",
]

#: Column order of :data:`PCE_COEFFICIENTS`; the group code used internally is
#: ``2 * male + african_american``.
PCE_GROUPS: tuple[str, ...] = ("white_female", "aa_female", "white_male", "aa_male")

# Goff et al. 2013, Table A.  Coefficients exactly as published (rounded to
# three decimals); "mean" is the group mean of sum(beta*x), "baseline_survival"
# is S10.  Do not edit without re-checking against the guideline.
_COEFFICIENT_ROWS: dict[str, tuple[float, float, float, float]] = {
    #                         white F   AA F      white M  AA M
    "ln_age":                (-29.799,  17.114,  12.344,  2.469),
    "ln_age_sq":             (4.884,    0.0,     0.0,     0.0),
    "ln_tc":                 (13.540,   0.940,   11.853,  0.302),
    "ln_age_x_ln_tc":        (-3.114,   0.0,     -2.664,  0.0),
    "ln_hdl":                (-13.578,  -18.920, -7.990,  -0.307),
    "ln_age_x_ln_hdl":       (3.149,    4.475,   1.769,   0.0),
    "ln_treated_sbp":        (2.019,    29.291,  1.797,   1.916),
    "ln_age_x_ln_treated_sbp":   (0.0,  -6.432,  0.0,     0.0),
    "ln_untreated_sbp":      (1.957,    27.820,  1.764,   1.809),
    "ln_age_x_ln_untreated_sbp": (0.0,  -6.087,  0.0,     0.0),
    "smoker":                (7.574,    0.691,   7.837,   0.549),
    "ln_age_x_smoker":       (-1.665,   0.0,     -1.795,  0.0),
    "diabetes":              (0.661,    0.874,   0.658,   0.645),
    "mean":                  (-29.18,   86.61,   61.18,   19.54),
    "baseline_survival":     (0.9665,   0.9533,  0.9144,  0.8954),
}

#: Pooled cohort equation parameters (Goff et al. 2013, Table A): rows are
#: terms plus ``mean`` and ``baseline_survival``; columns are :data:`PCE_GROUPS`.
PCE_COEFFICIENTS: pd.DataFrame = pd.DataFrame.from_dict(
    _COEFFICIENT_ROWS, orient="index", columns=list(PCE_GROUPS)
)

#: Terms multiplied by coefficients, in the row order of PCE_COEFFICIENTS.
_TERMS: tuple[str, ...] = tuple(
    t for t in _COEFFICIENT_ROWS if t not in ("mean", "baseline_survival")
)

#: Inclusive valid ranges of the ACC/AHA risk calculator.
VALID_RANGES: dict[str, tuple[float, float]] = {
    "age": (40.0, 79.0),
    "total_cholesterol": (130.0, 320.0),
    "hdl": (20.0, 100.0),
    "systolic_bp": (90.0, 200.0),
}

#: Optimal modifiable risk factor levels used by :func:`optimal_risk` (as in
#: the ACC/AHA calculator's "optimal risk").
OPTIMAL_LEVELS: dict[str, float | bool] = {
    "total_cholesterol": 170.0,
    "hdl": 50.0,
    "systolic_bp": 110.0,
    "bp_treated": False,
    "smoker": False,
    "diabetes": False,
}

_AA_LABELS = frozenset({"black", "aa", "african american", "african-american"})
_OUT_OF_RANGE_MODES = ("raise", "clip", "nan")
_N_EXAMPLES = 5


# --------------------------------------------------------------------------- #
# input helpers
# --------------------------------------------------------------------------- #
def _as_float_array(x: Any, name: str) -> np.ndarray:
    """Convert numeric input (scalar, list, ndarray, Series, nullable) to float."""
    if isinstance(x, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        try:
            return pd.Series(x).to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: values must be numeric ({exc})") from exc
    if x is None or x is pd.NA:
        return np.asarray(np.nan)
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        # e.g. object arrays holding pd.NA
        try:
            return pd.Series(np.asarray(x, dtype=object).ravel()).to_numpy(
                dtype=float, na_value=np.nan
            ).reshape(np.shape(x))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: values must be numeric ({exc})") from exc


def _as_object_array(x: Any) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        return pd.Series(x).to_numpy(dtype=object)
    return np.asarray(x, dtype=object)


def _normalise_labels(x: np.ndarray) -> pd.Series:
    """Lower-cased, stripped string labels; missing values stay <NA>."""
    s = pd.Series(x.ravel(), dtype=object)
    return s.astype("string").str.strip().str.lower()


def _examples(values: np.ndarray) -> str:
    uniq = pd.unique(pd.Series(values.ravel()))
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in uniq[:_N_EXAMPLES])
    more = ", ..." if len(uniq) > _N_EXAMPLES else ""
    return f"[{shown}{more}]"


def _check_binary(x: np.ndarray, name: str) -> None:
    bad = ~np.isnan(x) & (x != 0.0) & (x != 1.0)
    if bad.any():
        raise ValueError(
            f"{name} must be boolean or 0/1; {int(bad.sum())} value(s) are not, "
            f"e.g. {_examples(x[bad])}"
        )


# --------------------------------------------------------------------------- #
# pooled cohort equations
# --------------------------------------------------------------------------- #
def pooled_cohort_risk(
    age: Any,
    sex: Any,
    race: Any,
    total_cholesterol: Any,
    hdl: Any,
    systolic_bp: Any,
    bp_treated: Any,
    smoker: Any,
    diabetes: Any,
    *,
    out_of_range: str = "raise",
) -> np.ndarray | float:
    """10-year ASCVD risk from the 2013 ACC/AHA pooled cohort equations.

    Implements ``risk = 1 - S10 ** exp(sum(beta * x) - mean)`` with the sex-
    and race-specific parameters of Goff et al. (2013), Table A (see
    :data:`PCE_COEFFICIENTS`).  Fully vectorized: every argument may be a
    scalar, list, numpy array or pandas Series; arguments are broadcast
    against each other with numpy rules.

    Parameters
    ----------
    age : array_like
        Age in years. Valid range 40-79.
    sex : array_like of str
        ``"female"`` or ``"male"`` (case-insensitive, surrounding whitespace
        ignored). Missing values (None/NaN/pd.NA) give NaN risk.
    race : array_like of str
        ``"black"``, ``"aa"``, ``"african american"`` (or
        ``"african-american"``), case-insensitive, select the African-American
        equations; any other value, including missing, selects the white
        equations, as the ACC/AHA calculator does for "other" race.
    total_cholesterol : array_like
        Total cholesterol, mg/dL. Valid range 130-320.
    hdl : array_like
        HDL cholesterol, mg/dL. Valid range 20-100.
    systolic_bp : array_like
        Systolic blood pressure, mmHg. Valid range 90-200.
    bp_treated : array_like of bool or {0, 1}
        Whether the person is on antihypertensive treatment; selects the
        treated or the untreated SBP term (never both).
    smoker : array_like of bool or {0, 1}
        Current smoker.
    diabetes : array_like of bool or {0, 1}
        Diabetes.
    out_of_range : {"raise", "clip", "nan"}, default "raise"
        Handling of age, total cholesterol, HDL or systolic BP outside the
        calculator's valid ranges (:data:`VALID_RANGES`, inclusive):

        - ``"raise"``: raise ``ValueError`` naming each offending variable,
          how many values are out of range and a few examples (the ACC/AHA
          calculator refuses such inputs).
        - ``"clip"``: clip each variable to its range. This is what the
          pipeline uses for registry values that have already passed
          plausibility checks.
        - ``"nan"``: return NaN risk for the affected rows.

    Returns
    -------
    numpy.ndarray or float
        10-year risk as a fraction in (0, 1), with the broadcast shape of
        the inputs; a Python ``float`` if all inputs are scalars. Rows with
        any missing input are NaN.

    Raises
    ------
    ValueError
        If ``sex`` contains values other than female/male, a binary input
        contains values other than 0/1/True/False, ``out_of_range`` is not
        one of the allowed modes, or (with ``out_of_range="raise"``) any
        value lies outside its valid range.

    Notes
    -----
    With the published (rounded) coefficients the guideline's worked example
    (age 55, TC 213, HDL 50, untreated SBP 120, non-smoker, no diabetes)
    gives about 2.1% (white women), 3.0% (African-American women), 5.4%
    (white men; the guideline prints 5.3%) and 6.1% (African-American men).

    References
    ----------
    Goff DC Jr, et al. 2013 ACC/AHA Guideline on the Assessment of
    Cardiovascular Risk. Circulation. 2014;129(25 Suppl 2):S49-S73.

    Examples
    --------
    >>> round(pooled_cohort_risk(55, "female", "white", 213, 50, 120,
    ...                          False, False, False), 3)
    0.021
    """
    if out_of_range not in _OUT_OF_RANGE_MODES:
        raise ValueError(
            f"out_of_range must be one of {_OUT_OF_RANGE_MODES}, got {out_of_range!r}"
        )

    numeric = {
        "age": _as_float_array(age, "age"),
        "total_cholesterol": _as_float_array(total_cholesterol, "total_cholesterol"),
        "hdl": _as_float_array(hdl, "hdl"),
        "systolic_bp": _as_float_array(systolic_bp, "systolic_bp"),
        "bp_treated": _as_float_array(bp_treated, "bp_treated"),
        "smoker": _as_float_array(smoker, "smoker"),
        "diabetes": _as_float_array(diabetes, "diabetes"),
    }
    sex_arr = _as_object_array(sex)
    race_arr = _as_object_array(race)

    shape = np.broadcast_shapes(
        sex_arr.shape, race_arr.shape, *(v.shape for v in numeric.values())
    )
    n = int(np.prod(shape, dtype=np.int64))
    # broadcast and flatten (copies, so inputs are never modified)
    num = {k: np.broadcast_to(v, shape).reshape(n).astype(float, copy=True)
           for k, v in numeric.items()}
    sex_s = _normalise_labels(np.broadcast_to(sex_arr, shape).reshape(n))
    race_s = _normalise_labels(np.broadcast_to(race_arr, shape).reshape(n))

    # --- sex / race ------------------------------------------------------- #
    sex_missing = sex_s.isna().to_numpy()
    bad_sex = ~sex_missing & ~sex_s.isin(["female", "male"]).to_numpy()
    if bad_sex.any():
        raw = np.broadcast_to(sex_arr, shape).reshape(n)[bad_sex]
        raise ValueError(
            f"sex must be 'female' or 'male'; {int(bad_sex.sum())} value(s) are not, "
            f"e.g. {_examples(raw)}"
        )
    male = (sex_s == "male").to_numpy(dtype=bool, na_value=False)
    black = race_s.isin(list(_AA_LABELS)).to_numpy(dtype=bool)

    for name in ("bp_treated", "smoker", "diabetes"):
        _check_binary(num[name], name)

    # --- valid ranges ----------------------------------------------------- #
    messages = []
    for name, (lo, hi) in VALID_RANGES.items():
        x = num[name]
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(x) & ((x < lo) | (x > hi))
        if not bad.any():
            continue
        if out_of_range == "raise":
            messages.append(
                f"{name}: {int(bad.sum())} value(s) outside the valid range "
                f"{lo:g}-{hi:g}, e.g. {_examples(x[bad])}"
            )
        elif out_of_range == "clip":
            num[name] = np.clip(x, lo, hi)  # NaN stays NaN
        else:  # "nan"
            x[bad] = np.nan
    if messages:
        raise ValueError(
            "pooled cohort equation inputs outside the ACC/AHA calculator's valid "
            "ranges (use out_of_range='clip' or 'nan' to override): "
            + "; ".join(messages)
        )

    # --- linear predictor ------------------------------------------------- #
    ln_age = np.log(num["age"])
    ln_tc = np.log(num["total_cholesterol"])
    ln_hdl = np.log(num["hdl"])
    ln_sbp = np.log(num["systolic_bp"])
    treated = num["bp_treated"]
    untreated = 1.0 - treated
    smoke = num["smoker"]
    features = np.column_stack(
        [
            ln_age,
            ln_age**2,
            ln_tc,
            ln_age * ln_tc,
            ln_hdl,
            ln_age * ln_hdl,
            ln_sbp * treated,
            ln_age * ln_sbp * treated,
            ln_sbp * untreated,
            ln_age * ln_sbp * untreated,
            smoke,
            ln_age * smoke,
            num["diabetes"],
        ]
    )  # (n, n_terms)

    group = 2 * male.astype(np.intp) + black.astype(np.intp)  # index into PCE_GROUPS
    beta = PCE_COEFFICIENTS.loc[list(_TERMS)].to_numpy(dtype=float).T  # (4, n_terms)
    means = PCE_COEFFICIENTS.loc["mean"].to_numpy(dtype=float)
    s10 = PCE_COEFFICIENTS.loc["baseline_survival"].to_numpy(dtype=float)

    # linear predictor under each group's equation, then pick the person's
    # group; every input enters every group's equation, so a NaN input gives
    # NaN whatever the group.
    lin = (features @ beta.T)[np.arange(n), group]
    risk = 1.0 - s10[group] ** np.exp(lin - means[group])
    risk[sex_missing] = np.nan

    risk = risk.reshape(shape)
    if shape == ():
        return float(risk)
    return risk


# --------------------------------------------------------------------------- #
# strata, optimal risk, modifiable share
# --------------------------------------------------------------------------- #
_STRATA = ["low", "medium", "high"]


def risk_stratum(risk: Any, high: float = 0.30, medium: float = 0.15) -> Any:
    """Classify 10-year risk fractions into low / medium / high strata.

    Parameters
    ----------
    risk : array_like or float
        10-year risk as a fraction (not a percentage).
    high : float, default 0.30
        Lower bound (inclusive) of the "high" stratum.
    medium : float, default 0.15
        Lower bound (inclusive) of the "medium" stratum; must be < ``high``.

    Returns
    -------
    pandas.Categorical, pandas.Series or str
        Ordered categorical with categories ``["low", "medium", "high"]``:
        ``"high"`` if ``risk >= high``, ``"medium"`` if
        ``medium <= risk < high``, ``"low"`` if ``risk < medium``; missing
        risk stays missing. A pandas Series input returns a categorical
        Series with the same index; a scalar input returns the label (or
        ``numpy.nan`` when missing).

    Raises
    ------
    ValueError
        If ``medium >= high``.

    Examples
    --------
    >>> list(risk_stratum([0.30, 0.15, 0.1499]))
    ['high', 'medium', 'low']
    """
    if not medium < high:
        raise ValueError(f"medium ({medium}) must be less than high ({high})")
    r = _as_float_array(risk, "risk")
    flat = r.reshape(-1)
    codes = np.select([flat >= high, flat >= medium], [2, 1], default=0)
    codes[np.isnan(flat)] = -1
    cat = pd.Categorical.from_codes(codes, categories=_STRATA, ordered=True)
    if isinstance(risk, pd.Series):
        return pd.Series(cat, index=risk.index, name=risk.name)
    if r.ndim == 0:
        return np.nan if codes[0] < 0 else _STRATA[codes[0]]
    return cat


def optimal_risk(age: Any, sex: Any, race: Any, *, out_of_range: str = "raise") -> np.ndarray | float:
    """10-year ASCVD risk at optimal levels of the modifiable risk factors.

    Evaluates :func:`pooled_cohort_risk` for the given age, sex and race with
    total cholesterol 170 mg/dL, HDL 50 mg/dL, untreated systolic BP
    110 mmHg, non-smoker and no diabetes (:data:`OPTIMAL_LEVELS`), as the
    ACC/AHA calculator's "optimal risk".

    Parameters
    ----------
    age : array_like
        Age in years (valid range 40-79).
    sex : array_like of str
        ``"female"`` or ``"male"``.
    race : array_like of str
        Race; see :func:`pooled_cohort_risk`.
    out_of_range : {"raise", "clip", "nan"}, default "raise"
        Handling of ages outside 40-79; see :func:`pooled_cohort_risk`.

    Returns
    -------
    numpy.ndarray or float
        Optimal 10-year risk as a fraction.
    """
    o = OPTIMAL_LEVELS
    return pooled_cohort_risk(
        age,
        sex,
        race,
        o["total_cholesterol"],
        o["hdl"],
        o["systolic_bp"],
        o["bp_treated"],
        o["smoker"],
        o["diabetes"],
        out_of_range=out_of_range,
    )


def modifiable_share(
    risk: Any, age: Any, sex: Any, race: Any, *, out_of_range: str = "raise"
) -> np.ndarray | float:
    """Share of 10-year risk attributable to modifiable risk factors.

    Computed as ``1 - optimal_risk(age, sex, race) / risk`` and clipped to
    ``[0, 1]``: a person whose risk is at or below the optimal risk for
    their age, sex and race has share 0 (nothing to modify), and the share
    cannot exceed 1.

    Parameters
    ----------
    risk : array_like
        Observed 10-year risk as a fraction, usually from
        :func:`pooled_cohort_risk`.
    age, sex, race : array_like
        As for :func:`optimal_risk`.
    out_of_range : {"raise", "clip", "nan"}, default "raise"
        Handling of ages outside 40-79; see :func:`pooled_cohort_risk`.

    Returns
    -------
    numpy.ndarray or float
        Modifiable share in [0, 1]; NaN where ``risk`` or the optimal risk
        is missing, or ``risk <= 0``.
    """
    r = _as_float_array(risk, "risk")
    opt = np.asarray(optimal_risk(age, sex, race, out_of_range=out_of_range), dtype=float)
    r, opt = np.broadcast_arrays(r, opt)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(r > 0, 1.0 - opt / r, np.nan)
    share = np.clip(share, 0.0, 1.0)
    if share.ndim == 0:
        return float(share)
    return share
