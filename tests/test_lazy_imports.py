"""Start-up cost of a workflow job (issue 16): packages import their public names on first use
(mheval.lazy.lazy_exports), and the Wald reference distribution does not need scipy.stats; the
public names stay importable as before and give the same objects and values."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mheval.models
from mheval.lazy import lazy_exports
from mheval.models.wald import reference


def _loaded_after(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return out.split()


def test_every_public_model_name_resolves_to_its_submodules_object():
    assert len(mheval.models.__all__) == 22 and set(mheval.models.__all__) <= set(dir(mheval.models))
    from mheval.models import equation4, fit_cox, survival_impact
    from mheval.models.cox_engine import fit_cox as engine_fit_cox

    assert fit_cox is engine_fit_cox
    # the function, not the module, whichever was imported first (the module is now equation4)
    assert callable(survival_impact) and survival_impact is equation4.survival_impact
    assert mheval.models.survival_impact is survival_impact
    with pytest.raises(AttributeError, match="no attribute 'fit_nothing'"):
        mheval.models.fit_nothing  # noqa: B018
    with pytest.raises(ImportError):
        from mheval.models import fit_nothing  # noqa: F401


def test_importing_one_model_module_does_not_import_the_others():
    loaded = _loaded_after("from mheval.models.equation1 import equation1_impact",
                           ("mheval.models.equation1", "mheval.models.frailty_cox", "mheval.models.equation4",
                            "mheval.models.adjusted_incidence", "scipy.stats", "lifelines", "statsmodels"))
    assert loaded == ["mheval.models.equation1"]
    # the adjusted incidence job needs no scipy.stats (the proportional-hazards test imports it only to rank)
    assert _loaded_after("from mheval.models.equation4 import adjusted_incidence", ("scipy.stats", "lifelines")) == []
    # a script's late use of a package-level name still works in a fresh process
    assert _loaded_after("from mheval.models import survival_impact", ("mheval.models.equation4",)) == [
        "mheval.models.equation4"]


def test_lazy_exports_rejects_names_that_a_submodule_would_shadow():
    with pytest.raises(ValueError, match="equal to submodule names: \\['b'\\]"):
        lazy_exports("pkg", {"a": ["x"], "b": ["y"], "c": ["b"]})
    with pytest.raises(ValueError, match="two submodules"):
        lazy_exports("pkg", {"a": ["x"], "b": ["x"]})


@pytest.mark.parametrize("df", [None, 3.0, 41.7, np.array([2.0, 7.5, 1e6])])
def test_reference_equals_scipy_stats_norm_and_t(df):
    ref, scipy_ref = reference(df), (stats.norm if df is None else stats.t(df))
    x = np.array([-40.0, -3.1, -0.2, 0.0, 1.7, 9.0, np.inf])[:, None]
    q = np.array([1e-12, 0.025, 0.5, 0.95, 1 - 1e-9])[:, None]
    if df is None:
        x, q = x[:, 0], q[:, 0]
    np.testing.assert_array_equal(ref.cdf(x), scipy_ref.cdf(x))
    np.testing.assert_array_equal(ref.sf(x), scipy_ref.sf(x))
    np.testing.assert_array_equal(ref.ppf(q), scipy_ref.ppf(q))
    # a Series argument gives an array, as scipy.stats does; outside the support gives nan
    assert isinstance(ref.sf(pd.Series([0.5, 2.0, 3.0])), np.ndarray)
    assert np.isnan(ref.ppf(1.5)).all() and np.isnan(reference(np.nan).cdf(0.3))


def test_reference_of_scalars_gives_scipy_stats_scalars():
    assert reference().cdf(1.3) == stats.norm.cdf(1.3) and np.ndim(reference().cdf(1.3)) == 0
    assert reference(4).ppf(0.975) == stats.t.ppf(0.975, 4) and reference(4).sf(2.1) == stats.t.sf(2.1, 4)
