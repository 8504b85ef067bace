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
