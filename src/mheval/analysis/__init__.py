"""Analysis files built from the cohort and the claims.

- :func:`build_time_to_event`: time to first MI/stroke/TIA and to death, with censoring reasons
- :func:`follow_up_end`: the last day of follow-up implied by the claims runout
- :func:`build_predicted_risk`: the recomputed 10-year risk at every registry visit
"""

from mheval.analysis.predicted_risk import build_predicted_risk
from mheval.analysis.time_to_event import build_time_to_event, first_events, follow_up_end

__all__ = ["build_predicted_risk", "build_time_to_event", "first_events", "follow_up_end"]
