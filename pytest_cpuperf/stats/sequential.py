"""The sequential rule of ``cpuperf ab --rounds auto``: measure until the answer is known.

After each look the paired interval of head/base throughput (:func:`~.intervals.paired_ratio`
of the rounds so far, on log ratios) is set against the tolerance boundary ``1 - tolerance``:

* its low end above the boundary: a regression beyond the tolerance is ruled out, stop;
* its high end below the boundary: a regression beyond the tolerance, stop;
* otherwise measure on, up to the most rounds the time budget allows.

Looks happen at a sparse, geometric schedule of rounds (:func:`look_rounds`: 6, 9, 13, 19,
28, 42, ... and, last, the most rounds the budget allows). The repeated looks are accounted for
by Bonferroni over the number of looks ``K`` that schedule holds: each look's interval is at
the two-sided level ``1 - alpha / K``, and so is the final verdict's interval, wherever the
rule stopped. The verdict is one of at most ``K`` intervals, each wrong with probability at
most ``alpha / K``, so it is wrong with probability at most ``alpha`` whatever the stopping
rule did. ``K`` is fixed before the first look (from the time one round takes and the budget
left); a budget that runs out sooner ends the schedule early, which only removes looks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .intervals import paired_ratio

MIN_ROUNDS = 6
"""Rounds before the first look."""
GROWTH = 1.5
"""Each look after the first comes after this many times the rounds of the one before."""
LEAST_ROUNDS = 2
"""Fewest rounds of a look: an interval needs two."""

RULED_OUT = "ruled out"
"""The interval lies above the boundary: no regression beyond the tolerance."""
REGRESSION = "regression"
"""The interval lies below the boundary: a regression beyond the tolerance."""


def look_rounds(max_rounds: int, first: int = MIN_ROUNDS, growth: float = GROWTH
                ) -> tuple[int, ...]:
    """The rounds after which the rule looks: ``first``, then ``growth`` times the previous
    (rounded down), below ``max_rounds``; ``max_rounds`` itself is always the last look."""
    last = max(LEAST_ROUNDS, int(max_rounds))
    looks: list[int] = []
    at = first
    while at < last:
        looks.append(at)
        at = max(at + 1, math.floor(at * growth))
    return (*looks, last)


def max_rounds(budget_s: float, round_s: float, done: int = 0) -> int:
    """The most rounds ``budget_s`` seconds allow at ``round_s`` seconds a round, after
    ``done`` rounds already run (at least :data:`LEAST_ROUNDS`)."""
    if round_s <= 0 or not math.isfinite(budget_s / round_s):
        return max(LEAST_ROUNDS, done + 1)
    return max(LEAST_ROUNDS, done + math.floor(max(budget_s, 0.0) / round_s))


def look_alpha(alpha: float, looks: int) -> float:
    """The two-sided significance of each look, and of the final verdict: ``alpha / looks``
    (Bonferroni)."""
    return alpha / max(1, looks)


def decision(low: float, high: float, tolerance: float) -> str | None:
    """:data:`RULED_OUT`, :data:`REGRESSION` or None (undecided) for an interval of head/base
    (a ratio, higher is better) against the boundary ``1 - tolerance``."""
    boundary = 1.0 - tolerance
    if low > boundary:
        return RULED_OUT
    if high < boundary:
        return REGRESSION
    return None


def look(head: Sequence[float], base: Sequence[float], tolerance: float, alpha: float,
         looks: int) -> str | None:
    """The decision after one look at the paired rounds so far (``head[i]`` measured next to
    ``base[i]``), at the level :func:`look_alpha` gives; None with fewer than two rounds."""
    if len(head) != len(base) or len(head) < LEAST_ROUNDS:
        return None
    ratio = paired_ratio(head, base, confidence=1.0 - look_alpha(alpha, looks))
    return decision(ratio.low, ratio.high, tolerance)
