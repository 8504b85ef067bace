"""Analysis files built from the cohort and the claims.

- :func:`build_time_to_event`: time to first MI/stroke/TIA, to the composite with coronary or
  cerebrovascular death, and to death, with censoring reasons (:func:`time_to_event_columns` the
  rules on the dates, :func:`death_causes` the National Death Index causes)
- :func:`follow_up_end`: the last day of follow-up implied by the claims runout
- :func:`build_predicted_risk`: the recomputed 10-year risk at every registry visit
"""

from mheval.analysis.predicted_risk import build_predicted_risk
from mheval.analysis.time_to_event import (build_time_to_event, death_causes, first_events, follow_up_end,
                                           time_to_event_columns)

__all__ = ["build_predicted_risk", "build_time_to_event", "death_causes", "first_events", "follow_up_end",
           "time_to_event_columns"]
