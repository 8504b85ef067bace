"""mheval: evaluation pipeline for the Million Hearts CVD Risk Reduction Model trial.

The library is importable and testable without Snakemake. Subpackages:

- :mod:`mheval.synth`     synthetic trial generator with known true effects
- :mod:`mheval.contract`  input file schemas, readers and validation errors
- :mod:`mheval.risk`      ACC/AHA pooled cohort equations, strata, modifiable share of risk
- :mod:`mheval.cohort`    eligibility, assignment, flow table
- :mod:`mheval.outcomes`  claims -> events (DuckDB SQL over Parquet)
- :mod:`mheval.analysis`  analysis files
- :mod:`mheval.models`    impact models
- :mod:`mheval.disclosure` cell suppression over linear relations, and the audit of published files
- :mod:`mheval.report`    tables, figures, HTML report
"""

__version__ = "0.1.0"
