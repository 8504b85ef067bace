"""The time-to-event outcomes of Equation 4: each outcome's duration and event columns of the
time-to-event file (:mod:`mheval.analysis.time_to_event`) and its label in tables.

A module without dependencies inside mheval, so that the models, the tables and the disclosure
layouts (which relate the composite's rows to the first event's) can all read it."""

#: outcome code -> (duration column, event column, label)
SURVIVAL_OUTCOMES = {
    "event": ("T_EVENT", "EVENT", "First heart attack, stroke or TIA"),
    # the composite's observation ends when the event outcome's does: same time, T_EVENT
    "event_cvdeath": ("T_EVENT", "EVENT_CVDEATH",
                      "First heart attack, stroke or TIA, or coronary or cerebrovascular death"),
    "death": ("T_DEATH", "DEATH", "All-cause death"),
}
