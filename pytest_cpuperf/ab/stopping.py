"""How many rounds a measurement of ``cpuperf ab`` took and why it stopped (``--rounds auto``).

The rule itself is :mod:`pytest_cpuperf.stats.sequential`. A first pair of worker processes
runs it on every measurement of a test, within ``--budget`` seconds for the test. A fresh pair
(``--max-pairs``) runs no rule: it measures as many rounds as the first pair did, within a
budget of its own, so its rounds add no look; the pooled verdict keeps the first pair's level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from ..records.results import RELATIVE_KINDS, MetricResult
from ..stats.sequential import (
    LEAST_ROUNDS,
    MIN_ROUNDS,
    REGRESSION,
    RULED_OUT,
    look,
    look_alpha,
    look_rounds,
    max_rounds,
)
from ..status import Status

DECIDED = "decided"
BUDGET = "budget"
REPEATED = "repeated"
"""A fresh pair's measurement: the first pair's rounds again."""
FIXED = "fixed"
"""A fixed ``--rounds N``."""


@dataclass(frozen=True)
class Stop:
    """How one measurement's rounds ended."""

    rounds: int
    """Rounds not spoiled by other work."""
    reason: str
    """:data:`DECIDED`, :data:`BUDGET`, :data:`REPEATED` or :data:`FIXED`."""
    looks: int = 1
    """Looks the rule's schedule held (its level: alpha / looks)."""
    budget_s: float = 0.0
    decision: str | None = None
    """:data:`~pytest_cpuperf.stats.sequential.RULED_OUT` or ``REGRESSION`` when decided."""

    def describe(self) -> str:
        """``decided after 13 rounds (...)`` or ``budget of 120 s ran out after 41 rounds``."""
        if self.reason == DECIDED:
            what = {RULED_OUT: "no regression beyond the tolerance",
                    REGRESSION: "a regression beyond the tolerance"}.get(self.decision or "", "")
            return f"decided after {self.rounds} rounds{f' ({what})' if what else ''}"
        if self.reason == BUDGET:
            return f"budget of {self.budget_s:g} s ran out after {self.rounds} rounds"
        if self.reason == REPEATED:
            return f"{self.rounds} rounds, as many as the first pair of workers"
        return f"{self.rounds} rounds"


class RoundRule:
    """Whether one measurement runs another round: a fixed count (``--rounds N``, plus up to
    ``extra`` rounds in place of spoiled ones), the sequential rule (``--rounds auto``) or, in a
    fresh pair of workers, the first pair's count again (``repeat``).

    Only rounds not spoiled by other work count and are looked at; every round costs time.
    """

    def __init__(self, rounds: int | None, deadline: float, budget_s: float,
                 tolerance: float, alpha: float, extra: int = 0, paired: bool = True,
                 repeat: int | None = None) -> None:
        self.fixed = rounds if rounds is not None else (None if paired else MIN_ROUNDS)
        self.extra = extra if rounds is not None else 0
        self.deadline, self.budget_s = deadline, budget_s
        self.tolerance, self.alpha = tolerance, alpha
        self.repeat = repeat
        self.paired = paired
        self.clean = self.total = 0
        self.round_s = 0.0
        self.base: list[list[float]] = []
        self.head: list[list[float]] = []
        """Contention-corrected throughput per label, one entry per clean round."""
        self.schedule: tuple[int, ...] = ()
        self.stop: Stop | None = None

    @property
    def looks(self) -> int:
        return len(self.schedule) or 1

    def another(self, now: float) -> bool:
        """Whether another round runs (else :attr:`stop` says why not)."""
        if self.stop is None:
            self.stop = self._why_not(now)
        return self.stop is None

    def _why_not(self, now: float) -> Stop | None:
        if self.fixed is not None:
            if self.clean < self.fixed and self.total < self.fixed + self.extra:
                return None
            return Stop(self.clean, FIXED)
        if not self.paired and self.total >= MIN_ROUNDS:
            return Stop(self.clean, FIXED)
        if self.clean >= LEAST_ROUNDS and now + self.round_s > self.deadline:
            return self._budget()
        if self.repeat is not None:
            if self.clean >= self.repeat or self.total >= 2 * self.repeat:
                return Stop(self.clean, REPEATED, budget_s=self.budget_s)
            return None
        if self.schedule and (self.clean >= self.schedule[-1] or
                              self.total >= 2 * self.schedule[-1]):
            return self._budget()
        return None

    def _budget(self) -> Stop:
        return Stop(self.clean, BUDGET, self.looks, self.budget_s)

    def record(self, round_s: float, spoiled: bool, base: Sequence[float],
               head: Sequence[float], now: float) -> None:
        """One round ran in ``round_s`` seconds; ``base`` and ``head``: the throughput of each
        label, corrected for contention (empty from a side that does not send it)."""
        self.total += 1
        self.round_s = round_s
        if spoiled:
            return
        self.clean += 1
        if not self.paired:
            return
        if len(self.base) != min(len(base), len(head)):
            self.base = [[] for _ in range(min(len(base), len(head)))]
            self.head = [[] for _ in self.base]
        for values, new in ((self.base, base), (self.head, head)):
            for label, value in zip(values, new, strict=False):
                label.append(value)
        if self.fixed is not None or self.repeat is not None:
            return
        if not self.schedule:  # fixed before the first look, from the time one round takes
            self.schedule = look_rounds(max_rounds(self.deadline - now, round_s, self.clean))
        if self.clean in self.schedule and self.base and all(
                len(b) == self.clean for b in self.base):
            decisions = [look(h, b, self.tolerance, self.alpha, self.looks)
                         for h, b in zip(self.head, self.base, strict=True)]
            if all(decisions):
                self.stop = Stop(self.clean, DECIDED, self.looks, self.budget_s,
                                 REGRESSION if REGRESSION in decisions else RULED_OUT)


def verdict_looks(stops: Iterable[Stop]) -> int:
    """The looks a test's verdict accounts for: the most of its measurements' (a stricter
    level than some need, never a looser one)."""
    return max((s.looks for s in stops), default=1)


def stop_notes(test: str, stops: dict[int, Stop], alpha: float) -> list[str]:
    """One note per measurement of ``test`` that ran the rule."""
    shown = sorted(stops.items())
    return [f"{test}{f' measurement {index + 1}' if len(shown) > 1 else ''}: "
            f"{stop.describe()}; {stop.looks} look(s), each at "
            f"{1 - look_alpha(alpha, stop.looks):.2%}" for index, stop in shown
            if stop.reason in (DECIDED, BUDGET)]


def with_stops(results: Sequence[MetricResult], stops: dict[int, Stop]
               ) -> list[MetricResult]:
    """``results`` with the rounds each paired verdict rests on said: a pass whose interval
    still reaches beyond the tolerance after the budget ran out is inconclusive, and so is a
    regression or an improvement the rule never looked at (the budget ran out before
    :data:`MIN_ROUNDS`) whose interval still reaches within the tolerance."""
    ran_out = [s for s in stops.values() if s.reason == BUDGET]
    before_first_look = any(s.rounds < MIN_ROUNDS for s in ran_out)
    said = "; ".join(s.describe() for _, s in sorted(stops.items())
                     if s.reason in (DECIDED, BUDGET))
    if not said:
        return list(results)
    out = []
    for result in results:
        if result.record.kind not in RELATIVE_KINDS or result.tolerance is None:
            out.append(result)
            continue
        message = f"{result.message}; rounds: {said}"
        status = result.status
        if status is Status.PASS and ran_out and _reaches_beyond(result):
            status = Status.INCONCLUSIVE
            message += (" (undecided: the interval still reaches beyond the tolerance. Hint: "
                        "a larger --budget)")
        elif status in (Status.REGRESSION, Status.IMPROVEMENT) and before_first_look and \
                _reaches_within(result):
            status = Status.INCONCLUSIVE
            message += (f" (undecided: the budget ran out before the rule's first look at "
                        f"{MIN_ROUNDS} rounds, and the interval still reaches within the "
                        f"tolerance. Hint: a larger --budget)")
        out.append(replace(result, status=status, message=message))
    return out


def _reaches_beyond(result: MetricResult) -> bool:
    if result.ci is None or result.tolerance is None:
        return False
    worst = result.ci[0] if result.record.higher_is_better else -result.ci[1]
    return worst < -result.tolerance


def _reaches_within(result: MetricResult) -> bool:
    """Whether the interval of a loss (or a gain) reaches back within the tolerance."""
    if result.ci is None or result.tolerance is None:
        return True
    low, high = result.ci if result.record.higher_is_better else (-result.ci[1], -result.ci[0])
    if result.status is Status.IMPROVEMENT:
        return low < result.tolerance
    return high > -result.tolerance
