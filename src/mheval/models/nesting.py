"""Group indices and design matrices shared by the nested mixed-model engines (beneficiaries within
organizations)."""

from __future__ import annotations

from dataclasses import dataclass

import re

import numpy as np
import pandas as pd
import patsy
from patsy.categorical import C as patsy_C
from threadpoolctl import threadpool_limits


# The engines' row-level work is vector products (X'e, w'log p, ...) that multithreaded BLAS splits
# across threads; on a machine whose cores are busy (other workflow jobs), those threads spin and wait:
# a 50,000-row GLMM fit took 20 s with 2 BLAS threads and 1.2 s with 1 on the 2-core project machine.
one_blas_thread = threadpool_limits.wrap(limits=1, user_api="blas")


@dataclass
class Nesting:
    """Observation weights and the beneficiary and organization index of every row.

    ``bene_idx`` (row -> beneficiary), ``org_of_bene`` (beneficiary -> organization), the code
    arrays and ``one_level`` (no beneficiary intercept: each row is its own "beneficiary")."""

    w: np.ndarray
    bene_codes: np.ndarray
    bene_idx: np.ndarray
    org_codes: np.ndarray
    org_of_bene: np.ndarray
    one_level: bool


def nesting(d: pd.DataFrame, org: str, bene: str | None, weights: str | None) -> Nesting:
    """Check and index the rows of ``d``: positive finite weights (1 when ``weights`` is None) and
    beneficiaries nested in organizations (a beneficiary in two organizations is an error)."""
    w = d[weights].to_numpy(float) if weights else np.ones(len(d))
    if (w <= 0).any() or not np.isfinite(w).all():
        raise ValueError(f"weights in '{weights}' must be positive and finite; drop rows with zero weight first")
    one_level = bene is None
    bene_values = np.arange(len(d)) if one_level else d[bene].to_numpy()
    bene_idx, bene_codes = pd.factorize(bene_values, sort=True, use_na_sentinel=False)  # hashing: O(rows)
    org_idx, org_codes = pd.factorize(d[org].to_numpy(), sort=True, use_na_sentinel=False)
    org_of_bene = np.zeros(len(bene_codes), dtype=np.intp)
    org_of_bene[bene_idx] = org_idx
    if (org_of_bene[bene_idx] != org_idx).any():
        raise ValueError(f"'{bene}' is not nested in '{org}': a beneficiary appears in two organizations")
    return Nesting(w, bene_codes, bene_idx.astype(np.intp), org_codes, org_of_bene, one_level)


def _categorical(data, contrast=None, levels=None):
    """patsy's C() that hands a pandas Categorical through unboxed, so patsy codes it from its
    integer codes instead of testing and mapping every value in Python (same levels, same names)."""
    if contrast is None and levels is None and isinstance(getattr(data, "dtype", None), pd.CategoricalDtype):
        return data
    return patsy_C(data, contrast, levels)


def model_matrices(formula: str, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """patsy.dmatrices(formula, data) (rows with missing values dropped), fast on large frames: the
    columns wrapped in C() without options are passed as pandas Categoricals with their sorted
    values as levels, as patsy would order them; column names and values are patsy's. Formulas of
    numeric columns and C(column) are laid out without patsy's row-by-row evaluation
    (:func:`_column_design`)."""
    cols = {m for m in re.findall(r"\bC\(\s*([A-Za-z_][A-Za-z_0-9]*)\s*\)", formula) if m in data.columns}
    if cols:
        data = data.assign(**{c: pd.Categorical(data[c]) for c in cols
                              if not isinstance(data[c].dtype, pd.CategoricalDtype)})
    env = patsy.EvalEnvironment([{"C": _categorical, "np": np}])
    fast = _column_design(formula, data, env)
    if fast is not None:
        return fast
    return patsy.dmatrices(formula, data, return_type="dataframe", NA_action="drop", eval_env=env)


_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*$")
_C_NAME = re.compile(r"^\s*C\(\s*([A-Za-z_][A-Za-z_0-9]*)\s*\)\s*$")


def _column_design(formula, data, env):
    """patsy.dmatrices for a formula whose outcome is a numeric column and whose factors are numeric
    columns or C(categorical column), built without patsy's per-column evaluation: patsy lays out the
    design on two rows (names, order, codings), builds only the terms with a categorical factor, and
    the numeric single-column terms are copied straight in. Rows with a missing value in any of
    the formula's columns are dropped, as patsy drops them. None when the formula is of another
    form (the caller falls back to patsy)."""
    desc = patsy.ModelDesc.from_formula(formula)
    used, numeric_terms = [], set()

    def column(code, categorical_ok):
        m = _NAME.match(code)
        if m and m.group(1) in data.columns:
            dt = data[m.group(1)].dtype
            if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt):
                return m.group(1), "numeric"
        m = _C_NAME.match(code)
        if categorical_ok and m and m.group(1) in data.columns and isinstance(data[m.group(1)].dtype, pd.CategoricalDtype):
            return m.group(1), "categorical"
        return None, None

    if len(desc.lhs_termlist) != 1 or len(desc.lhs_termlist[0].factors) != 1:
        return None
    y_col, kind = column(desc.lhs_termlist[0].factors[0].code, False)
    if y_col is None:
        return None
    used.append(y_col)
    for term in desc.rhs_termlist:
        kinds = []
        for factor in term.factors:
            name, kind = column(factor.code, True)
            if name is None:
                return None
            used.append(name)
            kinds.append(kind)
        if kinds == ["numeric"]:
            numeric_terms.add(term)
    complete = data[list(dict.fromkeys(used))].notna().all(axis=1).to_numpy()
    if not complete.all():
        data = data.loc[complete]
    if len(data) == 0:
        return None
    y_head, X_head = patsy.dmatrices(formula, data.iloc[:2], return_type="dataframe", eval_env=env)
    y_info, info = y_head.design_info, X_head.design_info
    X = np.empty((len(data), len(info.column_names)))
    built = [t for t in info.terms if t not in numeric_terms and t.factors]
    if built:
        sub = np.asarray(patsy.build_design_matrices([info.subset(built)], data)[0])
        at = 0
        for t in built:
            sl = info.term_slices[t]
            X[:, sl] = sub[:, at:at + sl.stop - sl.start]
            at += sl.stop - sl.start
    for t in info.terms:
        if t in numeric_terms:
            X[:, info.term_slices[t]] = data[t.factors[0].code.strip()].to_numpy(float)[:, None]
        elif not t.factors:  # the intercept
            X[:, info.term_slices[t]] = 1.0
    y = pd.DataFrame(data[y_col].to_numpy(float)[:, None], index=data.index, columns=y_info.column_names)
    X = pd.DataFrame(X, index=data.index, columns=info.column_names)
    y.design_info, X.design_info = y_info, info
    return y, X
