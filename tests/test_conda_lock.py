"""environment.lock.yml (written by .ci/conda_env) pins exactly what requirements-lock.txt pins, on the
Python the lock is compiled for: the conda install and the pip install give the same tested versions."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_conda_lock_pins_match_the_pip_lock():
    env = yaml.safe_load((ROOT / "environment.lock.yml").read_text())
    deps = env["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    conda_pins = _pins(pip)
    lock_pins = _pins((ROOT / "requirements-lock.txt").read_text().splitlines())
    assert len(lock_pins) > 50
    only_conda = {k: v for k, v in conda_pins.items() if lock_pins.get(k) != v}
    only_lock = {k: v for k, v in lock_pins.items() if conda_pins.get(k) != v}
    assert not only_conda and not only_lock, (
        f"environment.lock.yml and requirements-lock.txt differ (rerun .ci/conda_env): "
        f"conda lock {only_conda}, pip lock {only_lock}")
    # every pip line is a pin or the package itself: nothing unpinned slips in
    assert set(pip) - {f"{k}=={v}" for k, v in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", "\n".join(pip), re.M)} == {"-e ."}


def test_conda_lock_python_is_the_locked_python():
    env = yaml.safe_load((ROOT / "environment.lock.yml").read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert len(pythons) == 1 and re.fullmatch(r"python=3\.11\.\d+", pythons[0]), pythons
    # the pip lock is compiled for that minor version (.ci/lock: --python-version 3.11)
    assert "--python-version 3.11" in (ROOT / ".ci" / "lock").read_text()
