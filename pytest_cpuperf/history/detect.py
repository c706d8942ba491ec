"""Change points of a series with Apache Otava (E-Divisive means, as in MongoDB's Hunter).

Otava is used as a library (``otava.analysis.compute_change_points``); without it, detection
raises :class:`HistoryError` saying how to install it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import HistoryError

if TYPE_CHECKING:
    from .store import Point

DEFAULT_WINDOW = 30
"""Points in each sliding window of Otava's split step."""
DEFAULT_MAX_PVALUE = 0.0003
"""Largest p-value (two-sided t-test of the two sides) a change point may have."""
DEFAULT_MIN_MAGNITUDE = 0.015
"""Smallest relative change reported. With 2% noise these defaults gave 0.4 false change points
per 1,000 points and found 3% shifts in a median of 6 points (benchmarks/history.py)."""
INSTALL_HINT = "pip install apache-otava (or pytest-cpuperf[detect])"


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


def check_thresholds(window: int, max_pvalue: float, min_magnitude: float) -> None:
    """A HistoryError naming the bad threshold and its valid range."""
    if window < 4:
        raise HistoryError(f"--window must be at least 4 points, got {window}")
    if not 0.0 < max_pvalue < 1.0:
        raise HistoryError(f"--max-pvalue must be in (0, 1), e.g. 0.001; got {max_pvalue}")
    if not 0.0 <= min_magnitude < 1.0:
        raise HistoryError(f"--min-magnitude must be a fraction in [0, 1), e.g. 0.02; got "
                           f"{min_magnitude}")


def shifts(values: Sequence[float], *, window: int = DEFAULT_WINDOW,
           max_pvalue: float = DEFAULT_MAX_PVALUE,
           min_magnitude: float = DEFAULT_MIN_MAGNITUDE) -> list[Shift]:
    """Change points of ``values`` (oldest first), by Otava's split-and-merge E-Divisive."""
    check_thresholds(window, max_pvalue, min_magnitude)
    analysis = _otava()
    if len(values) < 3:
        return []
    found, _weak = analysis.compute_change_points(  # type: ignore[attr-defined]
        [float(v) for v in values], window_len=window, max_pvalue=max_pvalue,
        min_magnitude=min_magnitude)
    return [Shift(index=int(cp.index), before=float(cp.stats.mean_1),
                  after=float(cp.stats.mean_2), p_value=float(cp.stats.pvalue))
            for cp in found if 0 < cp.index < len(values)]


def change_points(points: Sequence[Point], *, window: int = DEFAULT_WINDOW,
                  max_pvalue: float = DEFAULT_MAX_PVALUE,
                  min_magnitude: float = DEFAULT_MIN_MAGNITUDE) -> list[ChangePoint]:
    """Change points of one machine's series of runs, with the commits around each."""
    machines = {p.machine_key for p in points}
    if len(machines) > 1:
        raise HistoryError(f"a series mixes machine classes ({', '.join(sorted(machines))}); "
                           f"detect change points per machine (--machine KEY)")
    found = shifts([p.value for p in points], window=window, max_pvalue=max_pvalue,
                   min_magnitude=min_magnitude)
    return [ChangePoint(s, points[s.index - 1], points[s.index]) for s in found]
