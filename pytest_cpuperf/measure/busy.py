"""How busy the machine was with *other* work while we timed: other processes and VM steal.

A trial cannot see whether a neighbour slowed it down; the kernel can. From ``/proc/stat`` (all
CPUs) and this process's own CPU time, the share of the machine's CPU capacity that went to
anything but this process during a trial is::

    busy = (delta busy jiffies of all CPUs + delta steal - delta CPU time of this process)
           / delta total jiffies

"This process" counts all its threads, also those that came and went during the trial (a JIT's
compile threads: the kernel keeps an ended thread's time in the process's), and the child
processes it ran and waited for (a compiler a JIT runs). A child still running is other work:
a neighbour a test starts on purpose is one.

The process's own threads tell the other half: ``/proc/self/task/*/schedstat`` counts the time
each thread ran and the time it was runnable but waited for a CPU. ``starved`` is the waited
share. Throughput is proportional to the CPU time received, so a
starved trial is corrected by ``1 / (1 - starved)``, capped by ``1 / (1 - busy)`` so that
waiting our own threads cause (more threads than cores: a real regression) is never corrected
away. See :func:`contention_factor`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_times() -> tuple[float, float] | None:
    """(seconds run, seconds runnable but waiting) summed over this process's threads."""
    run = wait = 0.0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat") as handle:
                fields = handle.read().split()
        except OSError:  # the thread ended meanwhile
            continue
        run += int(fields[0]) / 1e9
        wait += int(fields[1]) / 1e9
    return run, wait


def starved_share(before: tuple[float, float] | None,
                  after: tuple[float, float] | None) -> float | None:
    """Share of our threads' runnable time spent waiting for a CPU, in [0, 1)."""
    if before is None or after is None:
        return None
    run, wait = after[0] - before[0], after[1] - before[1]
    if run <= 0:
        return None
    return max(0.0, wait) / (run + max(0.0, wait))


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
    return CpuSnapshot(
        total=user + nice + system + idle + iowait + irq + softirq + steal,
        busy=user + nice + system + irq + softirq,
        steal=steal,
        own=own_cpu_seconds(),
    )


def own_cpu_seconds() -> float:
    """CPU seconds of this process: all its threads (ended ones included: the kernel keeps
    their time) and the child processes it has waited for (a compiler run by a JIT)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def foreign_share(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float | None:
    """Share of the machine's CPU capacity used by other processes or stolen, in [0, 1]."""
    if before is None or after is None:
        return None
    total = after.total - before.total
    if total <= 0:
        return None
    foreign = (after.busy - before.busy) + (after.steal - before.steal) - (after.own - before.own)
    return min(1.0, max(0.0, foreign / total))


QUIET = 0.08
"""The machine is *quiet* again when other work takes less than this share of it."""
QUIET_POLL_S = 0.25


def wait_for_quiet(seconds: float) -> bool:
    """Sleep in short polls until other work takes under :data:`QUIET` of the machine, at most
    ``seconds``; whether it got quiet. While we sleep, every busy jiffy is someone else's."""
    clock = time.monotonic
    deadline = clock() + seconds
    while True:
        before = snapshot()
        poll = min(QUIET_POLL_S, max(0.0, deadline - clock()))
        if poll <= 0:
            return False
        time.sleep(poll)
        share = foreign_share(before, snapshot())
        if share is None or share < QUIET:
            return True
