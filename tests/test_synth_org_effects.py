"""Organization effects of the synthetic trial: practice patterns on utilization, an informative
cluster size, and subgroup-specific hazard ratios, each with the truth it records."""
import json

import numpy as np
import pandas as pd
import pytest

from mheval.synth import generate_trial
from mheval.synth.params import resolve_params
from mheval.synth.population import make_beneficiaries, make_organizations, organization_effects
from mheval.synth.timeline import event_hazard_ratios, make_timelines


def _orgs(scale=1.0, **over):
    params = resolve_params({"scale": scale, **over})
    return make_organizations(np.random.default_rng(3), params), params


def test_utilization_multiplier_has_mean_one_and_the_set_spread():
    """Over the 516 randomized organizations of the full trial: log multiplier SD about sigma,
    mean multiplier about 1 (the lognormal is mean-corrected), unrelated to size when rho = 0."""
    orgs, params = _orgs(org_utilization_sigma=0.3)
    fx = organization_effects(np.random.default_rng(5), orgs, params)
    m = fx["UTIL_MULT"].to_numpy()
    assert len(m) == len(orgs) == 516
    # SD of a normal sample of 516: standard error about 0.3 / sqrt(2 x 516) = 0.009
    assert np.log(m).std() == pytest.approx(0.3, abs=0.03)
    assert m.mean() == pytest.approx(1.0, abs=0.04)
    active = orgs["size_weight"].to_numpy() > 0
    assert abs(np.corrcoef(np.log(m[active]), fx["SIZE_Z"].to_numpy()[active])[0, 1]) < 0.15
    assert np.all(fx["EVENT_SIZE_MULT"].to_numpy() == 1.0)  # no size dependence of the event hazard


def test_informative_cluster_size():
    """rho = 0.8: the log multiplier correlates with standardized log size about 0.8, and the event
    hazard multiplier rises with size and averages 1 over beneficiaries (size-weighted)."""
    orgs, params = _orgs(org_utilization_sigma=0.2, org_size_outcome_correlation=0.8)
    fx = organization_effects(np.random.default_rng(5), orgs, params)
    active = orgs["size_weight"].to_numpy() > 0
    z = fx["SIZE_Z"].to_numpy()[active]
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0, rel=1e-12)
    assert np.corrcoef(np.log(fx["UTIL_MULT"].to_numpy()[active]), z)[0, 1] == pytest.approx(0.8, abs=0.06)
    ev = fx["EVENT_SIZE_MULT"].to_numpy()
    w = orgs["size_weight"].to_numpy() / orgs["size_weight"].sum()
    assert (w * ev).sum() == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.diff(ev[active][np.argsort(z)]) > 0)
    with pytest.raises(ValueError, match="org_size_outcome_correlation"):
        organization_effects(np.random.default_rng(5), orgs, {**params, "org_size_outcome_correlation": 1.5})


def test_subgroup_hazard_ratios_reach_only_their_stratum():
    """hr_event_by_stratum.high = 0.5: intervention high-risk beneficiaries' event hazard is
    0.5 / 0.96 times what it is with the common ratio; nobody else's changes."""
    assert event_hazard_ratios({"hr_event": 0.9, "hr_event_by_stratum": {"high": 0.5, "medium": None}}) == \
        {"high": 0.5, "medium": 0.9}
    params = resolve_params({"scale": 0.01})
    orgs = make_organizations(np.random.default_rng(1), params)
    bene = make_beneficiaries(np.random.default_rng(2), params, orgs)
    base = make_timelines(np.random.default_rng(4), params, bene, orgs)
    params_sub = resolve_params({"scale": 0.01, "effects": {"hr_event_by_stratum": {"high": 0.5}}})
    sub = make_timelines(np.random.default_rng(4), params_sub, bene, orgs)
    ratio = sub["h_event"].to_numpy() / base["h_event"].to_numpy()
    target = (base["mh"] == 1).to_numpy() & (base["stratum"] == "high").to_numpy()
    assert target.sum() > 50 and (~target).sum() > 50
    assert np.allclose(ratio[target], 0.5 / 0.96, rtol=1e-12)
    assert np.allclose(ratio[~target], 1.0, rtol=0, atol=0)


def test_generated_trial_has_organization_variation_in_utilization(tmp_path):
    """A small trial with a large organization effect: the organizations' claims per beneficiary
    follow their multipliers (rank correlation), and truth.json records the effects."""
    truth = generate_trial(tmp_path / "t", scale=0.01, seed=11,
                           overrides={"org_utilization_sigma": 0.6, "org_size_outcome_correlation": 0.5})
    fx = truth["organization_effects"]
    assert fx["utilization_sigma"] == 0.6 and fx["size_outcome_correlation"] == 0.5
    assert fx["realized_sd_log_utilization"] == pytest.approx(0.6, abs=0.2)
    assert fx["hr_event_by_stratum"] == {"high": 0.96, "medium": 0.96}
    assert json.loads((tmp_path / "t" / "truth.json").read_text())["organization_effects"] == fx
    # claims per beneficiary by organization against the organizations' multipliers (re-drawn as the generator does)
    params = resolve_params({"scale": 0.01, "seed": 11, "org_utilization_sigma": 0.6, "org_size_outcome_correlation": 0.5})
    from mheval.synth.generate import _streams

    rng = _streams(11)
    orgs = make_organizations(rng["orgs"], params)
    mult = organization_effects(rng["org_effects"], orgs, params).set_index("ORG_ID")["UTIL_MULT"]
    align = pd.read_parquet(tmp_path / "t" / "registry" / "alignment.parquet")[["BENE_ID", "ORG_ID"]].drop_duplicates("BENE_ID")
    outpatient = pd.concat(pd.read_parquet(f, columns=["BENE_ID"]) for f in (tmp_path / "t" / "claims" / "outpatient").glob("*.parquet"))
    per_bene = outpatient.groupby("BENE_ID").size().reindex(align["BENE_ID"], fill_value=0)
    by_org = pd.Series(per_bene.to_numpy(), index=align["ORG_ID"].to_numpy()).groupby(level=0).agg(["mean", "size"])
    by_org = by_org[by_org["size"] >= 20]
    rho = pd.Series(by_org["mean"]).rank().corr(mult.reindex(by_org.index).rank())
    assert len(by_org) >= 10 and rho > 0.5
