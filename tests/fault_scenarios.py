"""The fault scenarios of tests/test_faults.py: a project that records figures without a
model, a concurrent baseline writer, and a kill timed to the baseline write."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

NOBODY = 65534
"""The uid and gid a child drops to, to stand for another user."""

PROJECT = """
import os

import pytest

GEN = float(os.environ.get("CPUPERF_GEN", "1"))
TESTS = int(os.environ.get("CPUPERF_TESTS", "2"))
METRICS = int(os.environ.get("CPUPERF_METRICS", "2"))


@pytest.mark.cpuperf
@pytest.mark.parametrize("n", range(TESTS))
def test_rec(cpuperf, n):
    for m in range(METRICS):
        cpuperf.record(f"m{m}", GEN, kind="throughput", unit="samples/s", samples=[GEN] * 5)
"""
"""A test file recording ``CPUPERF_TESTS`` x ``CPUPERF_METRICS`` figures of ``CPUPERF_GEN``."""

WRITER = """
import sys
import time
from pathlib import Path

from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.store.baselines import update_file

path, writer, updates, start = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not Path(start).exists():  # every writer starts at once
    time.sleep(0.001)
for i in range(updates):
    record = MetricRecord(test_id=f"{writer}::u{i}", metric="throughput", kind="throughput",
                          unit="samples/s", value=float(i), samples=[float(i)] * 5)
    update_file(path, {"key": "m"}, [record])
"""
"""A script: ``path writer updates start``; one baseline update per record, once ``start``
exists."""


def kill_at(proc: subprocess.Popen[Any], directory: Path, delay: float, at_write: bool) -> None:
    """SIGKILL ``proc`` ``delay`` s after its start, or after its baseline write began (its
    temporary file appeared in ``directory``: busy-polled, the write lasts milliseconds)."""
    if at_write:
        older = set(directory.glob(".*.tmp"))  # orphans of earlier kills
        deadline = time.monotonic() + 120
        while (proc.poll() is None and time.monotonic() < deadline
               and not set(directory.glob(".*.tmp")) - older):
            time.sleep(0.0002)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
