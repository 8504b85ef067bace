"""mheval.models.nesting.model_matrices: patsy's design matrices, built faster for formulas of
columns and C(column), equal to patsy.dmatrices (names, order, values, dropped rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import pytest

from mheval.models.nesting import _categorical, model_matrices


def _frame():
    rng = np.random.default_rng(1)
    n = 400
    d = pd.DataFrame({"y": rng.normal(size=n), "YEAR": rng.integers(1, 6, n), "MH": rng.integers(0, 2, n),
                      "a": rng.normal(size=n), "b": rng.integers(0, 3, n), "g": rng.choice(["u", "v", "w"], n)})
    d.loc[[3, 50], "a"] = np.nan  # missing covariate, outcome and category: rows patsy drops
    d.loc[7, "y"] = np.nan
    d.loc[9, "YEAR"] = np.nan
    return d


@pytest.mark.parametrize("formula", ["y ~ 0 + C(YEAR) + C(YEAR):MH + a + b", "y ~ 1 + MH + a + b",
                                     "y ~ a + C(YEAR) + b:MH", "y ~ C(g) + a", "y ~ np.log(b + 1) + a"])
def test_model_matrices_equal_patsy(formula):
    d = _frame()
    y, X = model_matrices(formula, d)
    cats = {c: pd.Categorical(d[c]) for c in ("YEAR", "g") if f"C({c})" in formula}
    env = patsy.EvalEnvironment([{"C": _categorical, "np": np}])
    y_ref, X_ref = patsy.dmatrices(formula, d.assign(**cats), return_type="dataframe", NA_action="drop", eval_env=env)
    assert list(X.columns) == list(X_ref.columns) and list(y.columns) == list(y_ref.columns)
    assert X.index.equals(X_ref.index) and len(X) < len(d)
    assert np.array_equal(X.to_numpy(), X_ref.to_numpy()) and np.array_equal(y.to_numpy(), y_ref.to_numpy())
    assert X.design_info.column_names == X_ref.design_info.column_names
