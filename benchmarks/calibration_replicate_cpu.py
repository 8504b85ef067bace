"""CPU seconds of calibration replicates, per replicate and per step, in one warm process.

Runs benchmarks/calibration_trials.py's one_trial (or the version at $CT) for each design:seed argument with
time.perf_counter patched to time.process_time, so its "seconds" and "step_seconds" are CPU seconds of the
process (DuckDB's threads included); the first argument warms the process up (imports, PyTensor's compile
cache), as a calibration worker does once. Subgroup pooling on seeds divisible by 3 (as the background run).

Usage: OPENBLAS_NUM_THREADS=1 nice python benchmarks/calibration_replicate_cpu.py all342:54 few:56 few:57 all342:56
Results: benchmarks/results/calibration_speed.md
"""
import importlib.util
import os
import sys
import time

time.perf_counter = time.process_time
spec = importlib.util.spec_from_file_location("ct", os.environ.get("CT", "benchmarks/calibration_trials.py"))
ct = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ct)
for i, arg in enumerate(sys.argv[1:]):
    d, s = arg.split(":")
    r = ct.one_trial(d, int(s), 3)
    steps = r["step_seconds"]
    print(os.environ.get("CT", "new"), "warm-up" if i == 0 else "", d, s, "cpu", r["seconds"], "outside steps",
          round(r["seconds"] - sum(steps.values()), 1), steps, flush=True)
