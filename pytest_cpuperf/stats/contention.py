"""How much other work on the machine cost a trial, from the shares the engine reads around it.

``busy`` is the share of the machine other work took (/proc/stat less our own CPU time);
``starved`` the share of time our threads waited runnable for a CPU. Both come from
:mod:`pytest_cpuperf.measure.busy`; here they become a correction factor and a verdict.
"""

from __future__ import annotations

BACKGROUND = 0.04
"""Share of contention taken as background (jiffy rounding, kernel threads): not corrected."""


def contention_factor(busy: float | None, starved: float | None, cap: float = 0.9) -> float:
    """How much faster the trial would have run without other work: ``1/(1-s)`` where ``s`` is
    the starved share, capped by the busy share, less :data:`BACKGROUND`; 1 when unknown."""
    if busy is None or starved is None:
        return 1.0
    share = min(busy, starved, cap) - BACKGROUND
    return 1.0 / (1.0 - share) if share > 0 else 1.0


CONTENDED = 0.10
"""A trial is *contended* when other work took more than this share of the CPU our threads
were waiting for (the starved share, capped by the busy share): the engine repeats it."""


def is_contended(busy: float | None, starved: float | None) -> bool:
    """Whether other work took enough of the CPU our threads wanted to distort a trial."""
    if busy is None or starved is None:
        return False
    return min(busy, starved) > CONTENDED


CONTENTION_LOSS_BOUND: dict[str, float] = {}
"""The largest throughput loss contention can cause, per backend, where one is known below
100%. Threads of one parallel region wait for each other at every barrier, so one descheduled
thread stalls them all: the loss can be far larger than the CPU share taken, no ``1/(1-s)``
correction explains it, and no backend has a bound below 100% (``benchmarks/noisy.py``; the
figures are on the contention evidence page)."""
DEFAULT_LOSS_BOUND = 1.0
"""Any loss: a contended run is never a regression (see judge/evaluate.py)."""


def loss_bound(backend: str | None) -> float:
    """The largest loss contention could explain for ``backend`` (see the table above)."""
    return CONTENTION_LOSS_BOUND.get(backend or "", DEFAULT_LOSS_BOUND)
