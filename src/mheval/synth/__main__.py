"""Command line: python -m mheval.synth --scale S --seed N --out DIR [--set key=value ...]."""

from __future__ import annotations

import argparse
import json
import sys

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
    args = ap.parse_args(argv)
    truth = generate_trial(args.out, scale=args.scale, seed=args.seed, overrides=_parse_set(args.set))
    summary = {k: truth[k] for k in ("n_registry_beneficiaries", "n_analyzed", "n_analyzed_by_arm",
                                     "n_orgs_analyzed", "generation_seconds")}
    json.dump(summary, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
