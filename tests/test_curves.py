"""The Kaplan-Meier curves of the survival figures (mheval.models.curves) against lifelines'
KaplanMeierFitter, which they replaced (importing lifelines cost each survival job ~0.7 CPU s)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from mheval.models.curves import GRID, cumulative_incidence_by_arm, kaplan_meier


def _sample(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Durations on a coarse grid (many ties, some at 0) and events, the longest all events (S reaches 0)."""
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(2.0, n), 1)
    e = rng.random(n) < 0.6
    t[:3], e[:3] = 0.0, [True, False, True]
    e[t == t.max()] = True
    return t, e


@pytest.mark.parametrize("seed, n, alpha", [(1, 40, 0.10), (2, 400, 0.05), (3, 7, 0.10)])
def test_kaplan_meier_equals_lifelines(seed, n, alpha):
    t, e = _sample(seed, n)
    km = kaplan_meier(t, e, alpha)
    ref = KaplanMeierFitter(alpha=alpha).fit(t, e)
    np.testing.assert_array_equal(km.timeline, ref.survival_function_.index.to_numpy())
    np.testing.assert_allclose(km.survival, ref.survival_function_.iloc[:, 0].to_numpy(), rtol=1e-14, atol=0)
    ci = ref.confidence_interval_survival_function_
    np.testing.assert_allclose(km.lower, ci.iloc[:, 0].to_numpy(), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(km.upper, ci.iloc[:, 1].to_numpy(), rtol=1e-13, atol=1e-300)
    assert km.survival[-1] == 0.0 and km.survival[0] <= 1.0
    grid = np.r_[GRID, 0.05, 40.0]
    np.testing.assert_allclose(km.survival_at(grid), ref.survival_function_at_times(grid).to_numpy(), rtol=1e-14)


def test_kaplan_meier_rejects_missing_or_negative_durations():
    with pytest.raises(ValueError, match="non-negative"):
        kaplan_meier([1.0, np.nan], [1, 0])
    with pytest.raises(ValueError, match="non-negative"):
        kaplan_meier([1.0, -0.5], [1, 0])


def test_curves_by_arm_match_lifelines_and_stop_below_min_cell():
    rng = np.random.default_rng(5)
    n = 600
    tte = pd.DataFrame({"STRATUM": rng.choice(["high", "medium"], n), "MH": rng.integers(0, 2, n),
                        "T_EVENT": np.round(rng.exponential(1.0, n), 2), "EVENT": rng.random(n) < 0.5})
    out = cumulative_incidence_by_arm(tte, "event", "high_medium", alpha=0.10, min_cell=11)  # T_EVENT, EVENT
    for mh, arm in ((1, "intervention"), (0, "control")):
        d, got = tte[tte["MH"] == mh], out[out["arm"] == arm]
        ref = KaplanMeierFitter(alpha=0.10).fit(d["T_EVENT"], d["EVENT"])
        np.testing.assert_allclose(got["cumulative_incidence"], 1 - ref.survival_function_at_times(got["years"]).to_numpy(),
                                   rtol=1e-13, atol=1e-15)
        assert ((d["T_EVENT"].to_numpy()[:, None] >= got["years"].to_numpy()).sum(axis=0) >= 11).all()
        assert len(got) < len(GRID)  # the curve stops where fewer than 11 remain at risk
        assert (got["lower"] <= got["cumulative_incidence"]).all() and (got["cumulative_incidence"] <= got["upper"]).all()
