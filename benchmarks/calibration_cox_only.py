"""Extra replicates of the "few" design (benchmarks/calibration_trials.py), Cox fits only: the published frailty
(at theta 0 the marginal MBN) log hazard ratio of the first event and of death with the full organization
covariates and with the randomization stratum only, per seed (seeds outside calibration_trials' 1..200).

Usage: nice python benchmarks/calibration_cox_only.py FIRST_SEED END_SEED STOP_HH:MM
Appends to benchmarks/results/calibration_replicates/before_s8/cox_only_few_seeds201-334.jsonl (session 7: seeds 201-334,
about 5 CPU s each); read in docs/small_sample_inference.md (session 7) with benchmarks/calibration_oracle.py's
oracle_log_hr.
"""
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

# benchmarks/coverage.py would shadow the coverage package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
from mheval.analysis import build_time_to_event
from mheval.cohort import build_cohort
from mheval.models import survival_impact
from mheval.models.estimability import Limits
from mheval.synth.generate import generate_trial  # noqa: E402

cfg = yaml.safe_load(Path("config/config.yaml").read_text())
cfg["claims"] = {"runout_date": "2030-01-01", "runout_lag_days": 0}
m = cfg["models"]; cov = m["covariates"]; limits = Limits.from_config(m)
reduced = {**cov, "organization": [c for c in cov["organization"] if c == "randomization_stratum"]}
stop = dt.datetime.now(dt.timezone.utc).replace(hour=int(sys.argv[3][:2]), minute=int(sys.argv[3][3:]))
for seed in range(int(sys.argv[1]), int(sys.argv[2])):
    if dt.datetime.now(dt.timezone.utc) > stop:
        break
    tmp = Path(tempfile.mkdtemp(prefix="calibx"))
    t0 = time.process_time()
    try:
        generate_trial(tmp, scale=0.02, seed=seed)
        people, _, _ = build_cohort(tmp, cfg)
        cohort = people[people["EXCLUSION"] == ""].reset_index(drop=True)
        tte = build_time_to_event(tmp, cohort, cfg)
        out = {"seed": seed, "n": len(tte), "n_orgs": int(tte["ORG_ID"].nunique())}
        for o in ("event", "death"):
            for name, spec_ in (("full", cov), ("stratum_only", reduced)):
                try:
                    r = survival_impact(tte, o, "high_medium", alpha=m["alpha"], ph_alpha=m["ph_alpha"],
                                        cox_cov_type=m["cox_cov_type"], limits=limits, covariates=spec_)
                    f = r if r.get("estimable") else r["unconverged"]
                    mb = f.get("model_based") or f
                    out[f"{o}_{name}"] = {"estimate": f["log_hr"], "se": f["se"], "df": f.get("df"), "se_mb": mb["se"],
                                          "theta": r["theta"], "G": r["n_organizations"],
                                          "events": int(tte.loc[tte["STRATUM"].isin(["high", "medium"]), ("DEATH" if o == "death" else "EVENT")].sum()) if ("DEATH" if o == "death" else "EVENT") in tte else None}
                except Exception as e:
                    out[f"{o}_{name}"] = {"error": f"{type(e).__name__}: {e}"[:200]}
        out["cpu"] = round(time.process_time() - t0, 1)
        with open("benchmarks/results/calibration_replicates/before_s8/cox_only_few_seeds201-334.jsonl", "a") as fh:
            fh.write(json.dumps(out, default=float) + "\n")
        print(seed, out["cpu"], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
