"""The analysis population: eligibility, intent-to-treat assignment, risk strata, flow, balance.

- :func:`build_cohort`: apply eligibility to every registry enrollee
- :func:`flow_table`: the CONSORT-style exclusion flow by arm
- :func:`balance_table`: intervention vs control means and standardized differences
"""

from mheval.cohort.balance import balance_table
from mheval.cohort.eligibility import EXCLUSION_LABELS, EXCLUSION_ORDER, build_cohort, first_enrollment
from mheval.cohort.flow import flow_table

__all__ = ["EXCLUSION_LABELS", "EXCLUSION_ORDER", "balance_table", "build_cohort", "first_enrollment", "flow_table"]
