"""Command line: python -m mheval.synth --scale S --seed N --out DIR [--layout L] [--set key=value ...]."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from mheval.synth.generate import generate_trial


def _parse_set(items: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mheval.synth", description=__doc__)
    ap.add_argument("--scale", type=float, default=0.02, help="1.0 = the published trial's size")
    ap.add_argument("--seed", type=int, default=20170101)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override a parameter, e.g. effects.hr_event=0.9")
    ap.add_argument("--layout", choices=("contract", "ccw", "desynpuf"), default="contract",
                    help="input layout to write (docs/data_contract.md); read it with data.layout")
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv", help="file format of the ccw layout")
    args = ap.parse_args(argv)
    # progress (stages, claim batches) to standard error, as in a workflow step's log
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    t0 = time.perf_counter()
    if args.layout == "contract":
        truth = generate_trial(args.out, scale=args.scale, seed=args.seed, overrides=_parse_set(args.set))
    else:
        from mheval.synth.layouts import write_layout

        from mheval.synth.ownership import synthetic_output_dir

        with tempfile.TemporaryDirectory() as tmp:
            truth = generate_trial(tmp, scale=args.scale, seed=args.seed, overrides=_parse_set(args.set))
            # the same claim on the output directory as the contract writer's: an empty or marked
            # directory only, never overwriting files the generator did not write
            with synthetic_output_dir(args.out, {"layout": args.layout, "format": args.format,
                                                 **truth.get("params", {})}) as out:
                write_layout(tmp, args.layout, out, fmt=args.format)
                shutil.copyfile(Path(tmp) / "truth.json", Path(out) / "truth.json")
    summary = {k: truth[k] for k in ("n_registry_beneficiaries", "n_analyzed", "n_analyzed_by_arm", "n_orgs_analyzed")}
    json.dump(summary, sys.stdout, indent=2)
    print()
    # the time taken goes to standard error: the summary, like every file written, depends only on the inputs
    print(f"generated in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
