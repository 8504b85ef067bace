# Helpers shared by the rules.
import copy
from pathlib import Path

from mheval.contract.availability import available_inputs, restrict_config, unavailable_inputs

# data.dir holds the files in data.layout; any layout other than the contract is staged as the
# contract in STAGED_DIR (rule stage_inputs), which every later rule reads as DATA_DIR
LAYOUT = config["data"].get("layout", "contract")
RAW_DIR = config["data"]["dir"]
STAGED_DIR = "results/inputs"
if LAYOUT != "contract" and config["data"]["source"] == "synthetic":
    raise ValueError(f"data.layout: {LAYOUT} needs data.source: files (the synthetic trial is simulated in the "
                     "contract; write it in another layout with python -m mheval.synth --layout LAYOUT)")
DATA_DIR = RAW_DIR if LAYOUT == "contract" else STAGED_DIR


def _find_files():
    """For a layout other than the contract: which original files each contract input is made of
    (the staged files do not exist while the DAG is planned)."""
    if LAYOUT == "contract":
        return None
    from mheval.contract.layouts import input_finder

    return input_finder(LAYOUT, RAW_DIR)


# optional inputs (claim types, line files, Part D, payments, survey): which are available, and the
# run they allow: outcomes that need an unavailable input are left out (no rules), with a reason
AVAILABILITY = available_inputs(config, RAW_DIR, find_files=_find_files())
_restricted, LEFT_OUT, DATA_NOTES = restrict_config(config, AVAILABILITY)
config.update(_restricted)
UNAVAILABLE = unavailable_inputs(AVAILABILITY)
SURVIVAL_LEFT_OUT_KEYS = ("event", "event_cvdeath", "death", "survey")
# the time-to-event outcomes (mheval.models.equation4.OUTCOMES) whose left-out rows the survival tables show
SURVIVAL_KEYS = ("event", "event_cvdeath", "death")
AVAILABILITY_TEXT = {n: a.reason for n, a in AVAILABILITY.items() if not a.available}
SURVIVAL_OUTCOMES = config["models"]["survival_outcomes"]
POPULATIONS = config["models"]["populations"]
SURVIVAL_POPULATIONS = config["models"]["survival_populations"]


def data_ready():
    """The file that marks the inputs as present: the generator's truth.json for the synthetic
    trial; the staged contract directory for another layout; nothing for your own files in the
    contract (validate_inputs checks them)."""
    if config["data"]["source"] == "synthetic":
        return [f"{RAW_DIR}/truth.json"]
    if LAYOUT != "contract":
        return [STAGED_DIR]
    return []


def layout_sources():
    """Every original file the layout adapter reads under data.dir (so replacing one restages)."""
    from mheval.contract.layouts import source_files

    return sorted(str(p) for p in source_files(LAYOUT, RAW_DIR))


def cfg_subset(*keys):
    """Config sections passed as params, so that changing one reruns exactly its users."""
    return {k: copy.deepcopy(config[k]) for k in keys}

CLAIM_TYPES = [t for t in ["inpatient", "outpatient", "carrier", "snf", "hha", "hospice"] if t not in UNAVAILABLE]


def available(name):
    """Whether optional input ``name`` is available in this run."""
    return name not in UNAVAILABLE


LIMITS = {k: config["models"][k] for k in ("min_events_per_arm", "min_organizations_per_arm") if k in config["models"]}
# calendar years holding baseline and follow-up claims: the year before the first enrollment
# through the year after the study ends (late stays are filed under their through date)
CLAIM_YEARS = list(range(int(config["study"]["enroll_start"][:4]) - 1, int(config["study"]["end_date"][:4]) + 2))


# ---- declared inputs: every input file a rule reads is an input of that rule -------------------
from mheval.contract import FILES as _CONTRACT_FILES, input_files as _contract_files

CONTRACT = {s.name: s for s in _CONTRACT_FILES}
# your own files in the contract: each file is declared; another layout: the staged directory,
# whose rule (stage_inputs) declares every original file
FILE_SOURCE = config["data"]["source"] == "files" and LAYOUT == "contract"
# The validation report gates every reader of the inputs, as ancient(): a new report (any input
# changed) does not by itself rerun them; each reruns through the inputs it reads (below).
VALIDATED = ancient("results/qc/validation_report.json")


def contract_input_files(kind, year=None):
    """The files of contract input ``kind`` (a name in mheval.contract.spec, the one source of truth
    for file names) present under data.dir: every year's, or ``year``'s only. Empty for the
    synthetic trial, whose files do not exist before it runs (they are tracked through truth.json)."""
    if not FILE_SOURCE:
        return []
    files = _contract_files(DATA_DIR, kind)
    if year is not None:
        stem = Path(CONTRACT[kind].path).name.replace("{year}", str(year))
        files = [f for f in files if f.stem == stem]
    return [str(f) for f in files]


def _fingerprint(kind, year=None):
    return f"results/qc/inputs/{kind}.txt" if year is None else f"results/qc/inputs/{kind}_{year}.txt"


def contract_inputs(*kinds, year=None):
    """What a rule reading contract inputs ``kinds`` declares as input.

    Your files (data.source: files): each file, and its fingerprint (rule input_fingerprint),
    through which a replaced file reruns its readers even while the validation report is being
    rebuilt (Snakemake does not look at a job's own changed inputs when an upstream job it
    depends on only through an ancient() input reruns). Yearly inputs: every year present, or
    ``year``. The synthetic trial: its truth.json, rewritten on every generation. Another layout:
    the staged directory.
    """
    if not FILE_SOURCE:
        return data_ready()
    out = []
    for kind in kinds:
        if CONTRACT[kind].yearly:
            years = [year] if year is not None else sorted({Path(f).stem.rsplit("_", 1)[1]
                                                            for f in contract_input_files(kind)})
            for y in years:
                files = contract_input_files(kind, y)
                out += files + ([_fingerprint(kind, y)] if files else [])
        else:
            files = contract_input_files(kind)
            out += files + ([_fingerprint(kind)] if files else [])
    return out


def claims_inputs(claim_type, year):
    """The raw files one extraction job reads: the base claims of that type and year, and their
    revenue-center (outpatient) or line (carrier) file."""
    extra = {"outpatient": ["outpatient_revenue"], "carrier": ["carrier_line"]}.get(claim_type, [])
    return contract_inputs(claim_type, *extra, year=year)


def one_of(names):
    """A wildcard constraint matching exactly the given names; none at all (every outcome of a kind
    left out for want of an input) matches nothing, where an empty pattern would match anything."""
    import re

    return "|".join(re.escape(str(n)) for n in names) or "(?!)"


# Every wildcard's values, once for the whole workflow. A rule narrows `outcome` (which outcomes it
# fits: fit_mixed and fit_binary write the same file pattern) or `kind` (yearly contract files or not).
wildcard_constraints:
    population=one_of(["high", "medium", "high_medium"]),
    year=r"\d{4}",
    claim_type=one_of(CLAIM_TYPES),


def final_outputs(wildcards):
    """The default target's inputs (all): the validation report, the analysis files, the published tables and
    figures, the report and its publication audit (each rule's own inputs bring in the rest)."""
    return [
        "results/qc/validation_report.json",
        "results/analysis/predicted_risk.parquet",
        "results/analysis/beneficiary_year.parquet",
        "results/tables/cohort_flow.csv",
        "results/tables/balance.csv",
        "results/figures/cohort_flow.png",
        "results/tables/hazard_ratios.csv",
        "results/tables/impacts.csv",
        "results/tables/survey_impacts.csv",
        *expand("results/figures/cumulative_incidence_{outcome}.png", outcome=SURVIVAL_OUTCOMES),
        "results/report.html",
        "results/qc/publication_check.txt",
    ]


def data_dir(wildcards):
    """The contract's data directory (data.dir, or the staged copy of another layout), as a rule's
    params: a function, since the inputs under it are not all declared one by one (the synthetic
    trial's files are tracked through truth.json). The workflow needs a filesystem shared by every
    node (the default of a Snakemake cluster run)."""
    return DATA_DIR


# No rule names a conda environment (the one finding `snakemake --lint` is allowed, in
# tests/test_workflow_lint.py): every rule runs the mheval library, installed in the environment
# that runs Snakemake (README: requirements-lock.txt or environment.lock.yml); a per-rule environment
# file would have to install this unpublished package into each, and naming the existing environment
# (`conda: "mheval"`) makes Snakemake call `conda env export` after every job even without
# --use-conda, which stops every run on a machine without conda (tried: WorkflowError).


# ---- threads and resources of the heavy rules ------------------------------------------------------
# From measurements (benchmarks/results/rule_resources.md): each rule's peak memory (its largest job)
# at scale 0.05 (benchmarks/rule_resources.py) and at scale 1.0, the published trial's size, where it
# was measured (the generator: benchmarks/results/synth_scale1.json), otherwise the straight line
# through Python's own footprint (BASE_MB) and the scale-0.05 peak, but at most the largest process of
# the whole scale-1.0 run (5.3 GB); the longest job's minutes at scale 1.0 (a run on 2 cores:
# benchmarks/results/pipeline_scale1.json and issue 16's table; rules outside that table took less than
# its smallest entry, 64 s). A run's requests interpolate between the two scales, add half again to
# the memory, triple the time (shared or slower nodes) and double both on a retry.
# The trial's size is synthetic.scale; for your own files (data.source: files) it is taken as 1.0,
# the published trial: for a larger one, raise them with --set-resources RULE:mem_mb=MB.
# Threads: one per job (validate_inputs: two, see below). The model fits pin BLAS to one thread
# (mheval.models.nesting); DuckDB runs on one thread (mheval.sql.connect) except in validate_inputs.
RESOURCE_SCALE = config["synthetic"]["scale"] if config["data"]["source"] == "synthetic" else 1.0
BASE_MB = 200
SCALE1_CAP_MB = 5300
# no job asks for less time than this (minutes): on the shared 2-CPU machine the slowest job at scale
# 0.05, fit_subgroups, took 20 min (start-up and sampling under a load of 20)
RUNTIME_FLOOR = 30
# rule: (threads, peak MB at scale 0.05, peak MB at scale 1.0 or None, longest minutes at scale 1.0)
# validate_inputs, build_beneficiary_year and fit_implementation at scale 1.0: their job alone, after
# the bounded-memory changes (benchmarks/rule_memory.py; benchmarks/results/memory.md), minutes = its CPU
# time; their scale-0.05 peaks are the earlier whole-run measurement (the changes do not raise them)
RULE_RESOURCES = {
    "simulate_trial": (1, 917, 3236, 2.5),
    # two threads: every other job waits for it (DuckDB checks in parallel; counts do not depend on order)
    "validate_inputs": (2, 557, 1715, 1.1),
    # build_cohort, build_time_to_event, build_beneficiary_year at scale 1.0: session 7, alone
    # (benchmarks/results/startup.md)
    "build_cohort": (1, 299, 2463, 0.5),
    "build_time_to_event": (1, 352, 774, 0.2),
    "build_predicted_risk": (1, 292, 1790, 0.2),  # scale 1.0: session 7 growth run (growth_1.json)
    # extraction at scale 1.0, 2018 standalone: outpatient 345-348 MB since the event lookups are ENUMs (383-386
    # before), carrier 344-349 MB since its office lines are neither sorted nor made distinct (482 MB before;
    # benchmarks/results/extract.md)
    "extract_claims": (1, 257, 349, 0.2),
    "extract_fills": (1, 299, 183, 0.1),  # scale 1.0: session 7 growth run
    "build_beneficiary_year": (1, 459, 2884, 0.8),
    # the model jobs at scale 1.0, session 7 (benchmarks/model_jobs.py --all; benchmarks/results/model_jobs.md):
    # each job alone, its peak RSS and CPU; 0.05 peaks not re-measured (the changes do not raise them)
    "fit_mixed": (1, 410, 2450, 0.2),
    # session 8: CR2 (the population-averaged GLM beside the GLMM) 21.4 CPU s, peak 2592 MB for any_hosp high + medium
    # (main's code, same job: 17.7 CPU s, 2769 MB; benchmarks/results/model_jobs.md)
    "fit_binary": (1, 440, 2600, 0.5),
    "fit_mixed_predicted_risk": (1, 307, 1710, 0.2),
    "fit_survival": (1, 302, 1170, 0.2),
    "fit_fixed_window": (1, 278, 1100, 0.1),
    # scale 1.0 measured (session 7, benchmarks/results/model_jobs.md): the replicate blocks' arrays
    # (about 120 MB each) put a job at 2.2-2.5 GB; the longest job about 31 CPU s
    "adjusted_incidence": (1, 277, 2500, 0.6),
    "fit_survey": (1, 285, 457, 0.1),  # scale 1.0: session 7 growth run
    # scale 1.0 (each job alone, /usr/bin/time -v around benchmarks/bench_subgroups.py,
    # benchmarks/results/subgroups.md): its largest job (spend_ab: 12 CR2 nested LMMs and one joint pooling
    # run of 11 dimensions) 34 CPU s and 2,220 MB since session 8 (78 CPU s, 3,711 MB before, side by side);
    # event and death 46 CPU s, 1.3 GB (session 7), now the longest. Peak at 1.0: the job alone plus the
    # 430 MB more it took in session 7's whole-workflow run (4,164 MB there, 3,735 alone); not re-measured
    "fit_subgroups": (1, 803, 2650, 0.8),
    "fit_mixed_clinical": (1, 307, 1730, 0.2),  # scale 1.0: session 7, as fit_mixed
    "fit_medication_window": (1, 278, 1100, 0.1),  # scale 1.0: benchmarks/results/model_jobs.md
    # scale 1.0 measured (model_jobs.md); 0.05 from the line through 0.25 (743 MB) and 1.0
    "medication_changes": (1, 420, 2000, 0.3),
    "fit_implementation": (1, 410, 2353, 0.6),  # scale 1.0: session 7 growth run
}


# Scheduling: among the jobs ready at a time Snakemake starts those of higher priority first. At scale 1.0
# on 2 cores (benchmarks/results/growth.md) the longest jobs, fit_subgroups (one of 145 s), had waited for
# the beneficiary-year file and then for a free core, and the run ended on one of them with the other core
# idle; the beneficiary-year step, which every Equation 1 and subgroup job needs, had waited two minutes
# behind the bootstrap jobs. Starting them first leaves the short jobs to fill the end of the run.
# The beneficiary-year step reads the medication changes (medication_changes), so that job goes first too.
RULE_PRIORITY = {"medication_changes": 20, "build_beneficiary_year": 20, "fit_subgroups": 10}


def rule_priority(name):
    """The scheduling priority of rule ``name`` (RULE_PRIORITY; 0, Snakemake's default, otherwise)."""
    return RULE_PRIORITY.get(name, 0)


def rule_threads(name):
    """The threads rule ``name`` declares (RULE_RESOURCES)."""
    return RULE_RESOURCES[name][0]


def rule_peak_mb(name, scale):
    """Rule ``name``'s expected peak memory (MB) at trial size ``scale``: the line through its peaks at
    scales 0.05 and 1.0 (the measured one, else the line from BASE_MB, capped), never below BASE_MB."""
    _, at_005, at_1, _ = RULE_RESOURCES[name]
    if at_1 is None:
        at_1 = min(BASE_MB + (at_005 - BASE_MB) / 0.05, SCALE1_CAP_MB)
    return max(BASE_MB, at_005 + (at_1 - at_005) * (scale - 0.05) / 0.95)


def rule_mem_mb(name):
    """Rule ``name``'s memory request (MB) in this run, as a function of the attempt."""
    import math

    need = 1.5 * rule_peak_mb(name, RESOURCE_SCALE)
    return lambda wildcards, attempt: int(math.ceil(need * attempt / 100) * 100)


def rule_runtime(name):
    """Rule ``name``'s run-time request (minutes) in this run, as a function of the attempt."""
    import math

    minutes = RULE_RESOURCES[name][3]
    return lambda wildcards, attempt: max(RUNTIME_FLOOR, math.ceil(3 * minutes * RESOURCE_SCALE)) * attempt
