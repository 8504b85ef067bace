"""The trials' own realized effects (oracle) beside the calibration's Cox estimates: is a bias the estimator's?

For every stored calibration replicate (benchmarks/results/calibration_replicates/*.jsonl) the trial's population
and latent histories are regenerated from its seed without claims (mheval.synth.generate: the same draws as the
replicate's trial). With every beneficiary's true control-arm hazard known (age, risk stratum, organization
frailty, the post-event death multiplier after a first event), the oracle log hazard ratio is the Poisson
estimate log(O1 / E1) - log(O0 / E0): observed deaths (or first events) over those expected under the control
hazards, by arm. It is the effect this trial realized, free of covariate adjustment; its mean over replicates is
the generator's conditional truth plus Monte Carlo error only, so "estimate - oracle" isolates the estimator's
own error. Also the crude log rate ratio (marginal over everything), and the estimates' spread with the full
organization covariates and with the randomization stratum only.

Usage: python benchmarks/calibration_oracle.py   (about 0.15 s per replicate; writes benchmarks/results/calibration_oracle.md)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mheval.synth.generate import simulate_histories
from mheval.synth.timeline import event_hazard_ratios, observation_end

WORK = Path("benchmarks/results/calibration_replicates")
DESIGNS = {"few": (0.02, {}), "all342": (0.03, {"org_scaling_exponent": 0.0})}  # as calibration_trials.DESIGNS


def oracle_log_hr(scale: float, seed: int, overrides: dict) -> dict:
    """Oracle and crude log hazard ratios of death and of the first event of one trial (module docstring)."""
    params, b = simulate_histories(scale, seed, overrides)
    b = b[(b["planted"] == "").to_numpy()]
    eff = params["effects"]
    enroll = b["enroll_dt"].to_numpy().astype("datetime64[D]")
    mh = b["mh"].to_numpy()
    years = lambda a, z: ((z - a).astype(int) + 1) / 365.25  # noqa: E731
    death = b["death_dt"].to_numpy().astype("datetime64[D]")
    died = ~np.isnat(death)
    t = years(enroll, np.where(died, death, np.datetime64(params["study_end"])))
    ev = b["event_dt"].to_numpy().astype("datetime64[D]")
    had = ~np.isnat(ev)
    t_pre = np.where(had, years(enroll, ev), t)
    h_d0 = b["h_death"].to_numpy() / np.where(mh == 1, eff["hr_death"], 1.0)
    expected_d = h_d0 * (t_pre + params["rates"]["post_event_death_multiplier"] * (t - t_pre))
    end = observation_end(b, params["study_end"])
    ev_obs = had & (ev <= end)
    te = years(enroll, np.where(ev_obs, ev, end))
    by_stratum = event_hazard_ratios(eff)
    hr_e = np.where(b["stratum"].to_numpy() == "high", by_stratum["high"], by_stratum["medium"])
    expected_e = b["h_event"].to_numpy() / np.where(mh == 1, hr_e, 1.0) * te

    def contrast(o, e):
        return float(np.log(o[mh == 1].sum() / e[mh == 1].sum()) - np.log(o[mh == 0].sum() / e[mh == 0].sum()))
    return {"oracle_death": contrast(died, expected_d), "crude_death": contrast(died, t),
            "oracle_event": contrast(ev_obs, expected_e), "crude_event": contrast(ev_obs, te),
            "deaths": int(died.sum()), "events": int(ev_obs.sum())}


def main() -> None:
    rows = []
    for design, (scale, ov) in DESIGNS.items():
        f = WORK / f"calibration_trials_{design}.jsonl"
        for r in (json.loads(x) for x in f.read_text().splitlines() if x.strip()):
            row = {"design": design, "seed": r["seed"], **oracle_log_hr(scale, r["seed"], ov)}
            for k in ("frailty_death", "frailty_death_stratum_only", "frailty_event", "frailty_event_stratum_only"):
                if k in r["est"]:
                    row[k] = r["est"][k]["estimate"]
                    row[f"{k}_truth"] = r["est"][k]["truth"]
            rows.append(row)
    df = pd.DataFrame(rows)
    lines = ["# Oracle check of the calibration's Cox estimates", "",
             "`benchmarks/calibration_oracle.py` (module docstring): bias of each log hazard ratio against the generator's "
             "truth log(0.96), with its Monte Carlo SE, and the estimators' error against the trial's own realized "
             "effect (oracle: known hazards). Frailty Cox = the published estimate (at a frailty variance of zero the "
             "marginal model's).", "",
             "| design | quantity | replicates | mean | MC SE | SD |", "|---|---|---|---|---|---|"]
    for design, g in df.groupby("design", sort=False):
        for o in ("death", "event"):
            truth = float(np.log(0.96))
            items = [(f"oracle {o} - truth", g[f"oracle_{o}"] - truth), (f"crude {o} - truth", g[f"crude_{o}"] - truth)]
            for k, label in ((f"frailty_{o}", "full organization covariates"),
                             (f"frailty_{o}_stratum_only", "stratum only")):
                items += [(f"estimate {o} ({label}) - truth", g[k] - g[f"{k}_truth"]),
                          (f"estimate {o} ({label}) - oracle", g[k] - g[f"oracle_{o}"])]
            items.append((f"estimate {o}: full - stratum only", g[f"frailty_{o}"] - g[f"frailty_{o}_stratum_only"]))
            for label, x in items:
                x = x.dropna()
                lines.append(f"| {design} | {label} | {len(x)} | {x.mean():+.4f} | {x.std(ddof=1) / np.sqrt(len(x)):.4f} "
                             f"| {x.std(ddof=1):.4f} |")
    lines += ["", "Median deaths and first events per trial: "
              + "; ".join(f"{d} {g['deaths'].median():.0f} and {g['events'].median():.0f}" for d, g in df.groupby("design", sort=False)), ""]
    Path("benchmarks/results/calibration_oracle.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
