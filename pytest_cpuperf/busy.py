"""How busy the machine was with *other* work while we timed: other processes and VM steal.

A trial cannot see whether a neighbour slowed it down; the kernel can. From ``/proc/stat`` (all
CPUs) and this process's own CPU time, the share of the machine's CPU capacity that went to
anything but this process during a trial is::

    busy = (delta busy jiffies of all CPUs + delta steal - delta CPU time of this process)
           / delta total jiffies

A verdict measured while ``busy`` was high is not trusted (see evaluate.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU counters at one moment (seconds)."""

    total: float
    busy: float
    steal: float
    own: float


def snapshot() -> CpuSnapshot | None:
    """Counters now, or ``None`` where ``/proc/stat`` is unavailable."""
    try:
        with PROC_STAT.open() as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    values = [int(v) / _TICKS for v in fields[1:]]
    values += [0.0] * (8 - len(values))
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    times = os.times()
    return CpuSnapshot(
        total=user + nice + system + idle + iowait + irq + softirq + steal,
        busy=user + nice + system + irq + softirq,
        steal=steal,
        own=times.user + times.system,
    )


def foreign_share(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float | None:
    """Share of the machine's CPU capacity used by other processes or stolen, in [0, 1]."""
    if before is None or after is None:
        return None
    total = after.total - before.total
    if total <= 0:
        return None
    foreign = (after.busy - before.busy) + (after.steal - before.steal) - (after.own - before.own)
    return min(1.0, max(0.0, foreign / total))
