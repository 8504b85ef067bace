"""Loop progress in the log: what a user watching a long step's log sees."""
import logging

from mheval.progress import LoopProgress


def test_loop_progress_logs_share_done_and_time_left(caplog, monkeypatch):
    """With an interval of 0 s every step before the last logs "i of total (p%)" with an estimate
    of the time left; the end is logged once with the total."""
    log = logging.getLogger("mheval.test_progress")
    with caplog.at_level(logging.DEBUG, logger="mheval.test_progress"):
        p = LoopProgress(log, "bootstrap replicates", total=4, every=0.0)
        for _ in range(4):
            p.step()
        p.done()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("bootstrap replicates: 1 of 4 (25%)") and "about" in messages[0]
    assert [m.split(":")[1].split("(")[0].strip() for m in messages[:3]] == ["1 of 4", "2 of 4", "3 of 4"]
    assert messages[-1].startswith("bootstrap replicates: 4 of 4 done in")
    assert len(messages) == 4


def test_loop_progress_is_quiet_for_fast_loops(caplog):
    """A loop that ends within the interval logs nothing at INFO (only its DEBUG end line)."""
    log = logging.getLogger("mheval.test_progress")
    with caplog.at_level(logging.INFO, logger="mheval.test_progress"):
        p = LoopProgress(log, "draws", total=100, every=3600.0)
        for _ in range(100):
            p.step()
        p.done()
    assert caplog.records == []


def test_bootstraps_and_permutations_log_their_progress(caplog):
    """The cumulative-incidence bootstraps (competing risk and 1 - S) and the randomization test count
    their replicates through LoopProgress: the end line names the loop and the total."""
    import numpy as np
    import pandas as pd

    from mheval.models.adjusted_incidence import adjusted_cumulative_incidence
    from mheval.models.competing_risks import competing_cumulative_incidence
    from mheval.models.randomization_test import randomization_test

    rng = np.random.default_rng(0)
    n = 400
    org = rng.integers(0, 8, n)
    d = pd.DataFrame({"ORG_ID": org, "MH": (org % 2).astype(int), "T": rng.uniform(0.1, 3, n),
                      "status": rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2])})
    d["E"] = (d["status"] == 1).astype(int)
    X = pd.DataFrame({"x": rng.normal(size=n)})
    with caplog.at_level(logging.DEBUG, logger="mheval"):
        competing_cumulative_incidence(d, "T", "status", X, years=(1, 2), n_boot=3, seed=1)
        adjusted_cumulative_incidence(d, "T", "E", X, years=(1, 2), n_boot=4, seed=1)
        randomization_test(lambda x: x.loc[x["MH"] == 1, "T"].mean() - x.loc[x["MH"] == 0, "T"].mean(), d, "MH",
                           "ORG_ID", n_perm=5, seed=1)
    messages = [r.getMessage() for r in caplog.records]
    for line in ("competing-risk bootstrap replicates: 3 of 3 done", "1 - S bootstrap replicates: 4 of 4 done",
                 "randomization test permutations: 5 of 5 done"):
        assert any(m.startswith(line) for m in messages), (line, messages)
