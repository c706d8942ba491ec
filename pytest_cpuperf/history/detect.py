"""Change points of a series: the trailing-window test (default) or Apache Otava.

``trailing`` (:mod:`.trailing`) tests the newest points against the ones before them as each
run arrives and never takes back what it reported: in 2% noise it finds 81% of 3% shifts
within 10 runs with 0.59 false change points per 1,000 runs, against Otava's 74% and 1.4 (its
change points move as runs arrive; benchmarks/history.py). It needs only numpy and scipy.
``otava`` is Apache Otava's E-Divisive means (MongoDB's Hunter), used as a library
(``otava.analysis.compute_change_points``): a retrospective segmentation of the whole series,
what the trend report marks; without it, it raises :class:`HistoryError` saying how to install.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import CpuperfUsageError
from ..knobs import HISTORY_BY_NAME
from ..stats import trailing
from . import HistoryError

if TYPE_CHECKING:
    from .store import Point

DEFAULT_WINDOW = int(HISTORY_BY_NAME["window"].default)
"""Points in each sliding window of Otava's split step."""
DEFAULT_MAX_PVALUE = HISTORY_BY_NAME["max_pvalue"].default
"""Largest p-value (two-sided t-test of the two sides) a change point may have."""
DEFAULT_MIN_MAGNITUDE = 0.015
"""Smallest relative change Otava reports. With 2% noise these defaults found 3% shifts within
10 points in 74% of series, with 0.3 false change points per 1,000 points in the final answer
and 1.4 counting every one a re-run reported as the points arrived."""
METHODS = ("trailing", "otava")
DIRECTIONS = ("both", "slower", "faster")
"""Which changes to report: ``slower`` is throughput down or latency up (the metric's
``higher_is_better``); with one direction the trailing test is one-sided at the same alpha."""
INSTALL_HINT = "pip install apache-otava (or pytest-cpuperf[detect])"


TRAILING_REFERENCE = int(HISTORY_BY_NAME["reference"].default)
"""Points before the trailing window that its mean is tested against."""
TRAILING_RECENT = int(HISTORY_BY_NAME["recent"].default)
"""Newest points whose mean is tested (and where the change point is looked for)."""
TRAILING_ALPHA = HISTORY_BY_NAME["alpha"].default
"""Largest p-value of an alarm (two-sided, or one-sided when one direction is watched): a bound
on the false alarms per new point."""
TRAILING_MIN_MAGNITUDE = HISTORY_BY_NAME["min_magnitude"].default
"""Smallest relative change the trailing test reports."""


def check_trailing(reference: int, recent: int, alpha: float, min_magnitude: float) -> str | None:
    """The complaint about a bad trailing threshold, naming its option and valid range (the
    options table's); None if fine."""
    return table_problem(reference=reference, recent=recent, alpha=alpha,
                         min_magnitude=min_magnitude)


def table_problem(**values: float) -> str | None:
    """The first of ``values`` (by ``cpuperf history`` option) the options table rejects, as
    its message; None if all are fine."""
    for name, value in values.items():
        knob = HISTORY_BY_NAME[name]
        try:
            knob.check(value, knob.flag)
        except CpuperfUsageError as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class Shift:
    """A change point at ``index`` (the first point of the new level) of a list of values."""

    index: int
    before: float
    after: float
    p_value: float

    @property
    def change(self) -> float:
        """Relative change of the mean level: after / before - 1."""
        return self.after / self.before - 1.0 if self.before else 0.0


@dataclass(frozen=True)
class ChangePoint:
    """A shift of a stored series, with the runs on both sides of it."""

    shift: Shift
    last_before: Point
    first_after: Point

    @property
    def commit_range(self) -> str:
        """``old..new``: the commits between which the change happened."""
        old = (self.last_before.commit or "?")[:12]
        new = (self.first_after.commit or "?")[:12]
        return f"{old}..{new}"


def _otava() -> object:
    try:
        from otava import analysis
    except ImportError as exc:
        raise HistoryError(f"change-point detection needs Apache Otava ({exc}): "
                           f"{INSTALL_HINT}") from exc
    return analysis


def check_direction(direction: str) -> None:
    """A HistoryError naming --direction and its choices."""
    if direction not in DIRECTIONS:
        raise HistoryError(f"--direction must be one of {', '.join(DIRECTIONS)}; got "
                           f"{direction!r}")


def direction_sign(direction: str, higher_is_better: bool = True) -> int:
    """How the values move in ``direction``: 0 either way, -1 down, +1 up."""
    check_direction(direction)
    if direction == "both":
        return 0
    slower = -1 if higher_is_better else 1
    return slower if direction == "slower" else -slower


def check_thresholds(window: int, max_pvalue: float, min_magnitude: float) -> None:
    """A HistoryError naming the bad Otava threshold and its valid range."""
    problem = table_problem(window=window, max_pvalue=max_pvalue,
                                     min_magnitude=min_magnitude)
    if problem:
        raise HistoryError(problem)


def shifts(values: Sequence[float | None], *, window: int = DEFAULT_WINDOW,
           max_pvalue: float = DEFAULT_MAX_PVALUE,
           min_magnitude: float = DEFAULT_MIN_MAGNITUDE) -> list[Shift]:
    """Change points of ``values`` (oldest first), by Otava's split-and-merge E-Divisive."""
    check_thresholds(window, max_pvalue, min_magnitude)
    analysis = _otava()
    kept = finite_positions(values)
    if len(kept) < 3:
        return []
    found, _weak = analysis.compute_change_points(  # type: ignore[attr-defined]
        [v for i in kept if (v := values[i]) is not None], window_len=window, max_pvalue=max_pvalue,
        min_magnitude=min_magnitude)
    return [Shift(index=kept[int(cp.index)], before=float(cp.stats.mean_1),
                  after=float(cp.stats.mean_2), p_value=float(cp.stats.pvalue))
            for cp in found if 0 < cp.index < len(kept)]


def finite_positions(values: Sequence[float | None]) -> list[int]:
    """Indexes of the finite values: a NaN, an infinity or None (an invalid run) is skipped
    by every detector, and a shift's index still counts every value given."""
    return [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]


def trailing_shifts(values: Sequence[float], *, reference: int = TRAILING_REFERENCE,
                    recent: int = TRAILING_RECENT, alpha: float = TRAILING_ALPHA,
                    min_magnitude: float = TRAILING_MIN_MAGNITUDE,
                    direction: str = "both", higher_is_better: bool = True) -> list[Shift]:
    """Change points of ``values`` (oldest first) by the trailing-window test; ``direction``
    ``slower``/``faster`` reports only that way (a one-sided test at the same ``alpha``)."""
    sign = direction_sign(direction, higher_is_better)
    problem = check_trailing(reference, recent, alpha, min_magnitude)
    if problem:
        raise HistoryError(problem)
    return [Shift(index, before, after, p_value) for index, before, after, p_value in
            trailing.find(values, reference=reference, recent=recent, alpha=alpha,
                          min_magnitude=min_magnitude, sign=sign)]


@dataclass(frozen=True)
class Detector:
    """A detection method and its thresholds (``min_magnitude`` None: the method's default).
    ``direction``: see :data:`DIRECTIONS`; Otava's change points the other way are dropped
    (its test stays two-sided)."""

    method: str = "trailing"
    reference: int = TRAILING_REFERENCE
    recent: int = TRAILING_RECENT
    alpha: float = TRAILING_ALPHA
    window: int = DEFAULT_WINDOW
    max_pvalue: float = DEFAULT_MAX_PVALUE
    min_magnitude: float | None = None
    direction: str = "both"

    def check(self) -> None:
        """A HistoryError naming the bad option, before any series is read."""
        if self.method not in METHODS:
            raise HistoryError(f"--method must be one of {', '.join(METHODS)}; got "
                               f"{self.method!r}")
        check_direction(self.direction)
        check_thresholds(self.window, self.max_pvalue, self._min_magnitude)
        problem = check_trailing(self.reference, self.recent, self.alpha, self._min_magnitude)
        if problem:
            raise HistoryError(problem)

    @property
    def _min_magnitude(self) -> float:
        if self.min_magnitude is not None:
            return self.min_magnitude
        return DEFAULT_MIN_MAGNITUDE if self.method == "otava" else TRAILING_MIN_MAGNITUDE

    def shifts(self, values: Sequence[float], higher_is_better: bool = True) -> list[Shift]:
        """The change points of ``values`` (oldest first) by this method, in its direction."""
        if self.method == "otava":
            sign = direction_sign(self.direction, higher_is_better)
            return [s for s in shifts(values, window=self.window, max_pvalue=self.max_pvalue,
                                      min_magnitude=self._min_magnitude)
                    if sign * s.change >= 0]
        return trailing_shifts(values, reference=self.reference, recent=self.recent,
                               alpha=self.alpha, min_magnitude=self._min_magnitude,
                               direction=self.direction, higher_is_better=higher_is_better)


def invalid_count(points: Sequence[Point]) -> int:
    """How many runs of a series detection skips: value NaN or infinite, or verdict invalid."""
    return sum(not p.valid for p in points)


def change_points(points: Sequence[Point],
                  detector: Detector | None = None) -> list[ChangePoint]:
    """Change points of one machine's series of runs, with the commits around each; which
    way is slower comes from the metric's stored ``higher_is_better``. Invalid runs (see
    :func:`invalid_count`) are skipped: the runs around a change are valid ones."""
    machines = {p.machine_key for p in points}
    if len(machines) > 1:
        raise HistoryError(f"a series mixes machine classes ({', '.join(sorted(machines))}); "
                           f"detect change points per machine (--machine KEY)")
    higher_is_better = points[-1].higher_is_better if points else True
    valid = [p for p in points if p.valid]
    found = (detector or Detector()).shifts([p.value for p in valid if p.value is not None],
                                            higher_is_better)
    return [ChangePoint(s, valid[s.index - 1], valid[s.index]) for s in found]
