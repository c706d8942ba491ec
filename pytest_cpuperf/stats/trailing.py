"""Trailing-window change test: the newest runs against the runs before them.

At each new point the mean of the last ``recent`` points is tested against the mean of up to
``reference`` points before them (none before the last change found), scaled by the
reference's standard deviation: Student-t with ``len(reference) - 1`` degrees of freedom when
nothing changed. An alarm needs a p-value below ``alpha`` (and a change of at least
``min_magnitude``): two-sided, or one-sided when only drops (``sign`` -1) or only rises (+1) are
watched; its change point is then placed at the split of the last few windows with
the strongest t statistic, and testing restarts from there. One test per new point keeps
false alarms below ``alpha`` per point (well below: successive windows overlap, so an excursion
gives one alarm). Needs numpy and scipy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

MIN_REFERENCE = 10
"""Fewest points a reference may have (after the series starts or a change is found)."""
LOCATE = 2
"""An alarm's change point is looked for among the last ``LOCATE * recent`` points: a change
found late is still placed where it happened."""


def _t_statistics(total: np.ndarray, squares: np.ndarray, start: int, splits: np.ndarray,
                  end: int, reference: int, sign: int) -> tuple[np.ndarray, ...]:
    """For each split ``j``: mean of ``x[first..j)``, mean of ``x[j..end)``, t (``|t|`` when
    ``sign`` is 0, else ``sign * t``: large when the mean moved the watched way), reference size."""
    import numpy as np

    first = np.maximum(start, splits - reference)
    n_ref = splits - first
    mean_ref = (total[splits] - total[first]) / n_ref
    var_ref = np.maximum((squares[splits] - squares[first]) / n_ref - mean_ref ** 2, 0.0)
    sd_ref = np.sqrt(var_ref * n_ref / (n_ref - 1))
    n_new = end - splits
    mean_new = (total[end] - total[splits]) / n_new
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (mean_new - mean_ref) / (sd_ref * np.sqrt(1 / n_new + 1 / n_ref))
    stat = np.nan_to_num(stat, nan=0.0, posinf=np.inf, neginf=-np.inf)
    return mean_ref, mean_new, np.abs(stat) if sign == 0 else sign * stat, n_ref


def find(values: Sequence[float], *, reference: int, recent: int, alpha: float,
         min_magnitude: float, sign: int = 0) -> list[tuple[int, float, float, float]]:
    """``(index, mean before, mean after, p-value)`` per change found, oldest first, as an
    online detector fed one point at a time would have raised them. ``sign``: 0 watches both
    ways (two-sided test), -1 only drops, +1 only rises (one-sided, at the same ``alpha``).

    A NaN or infinite value (an invalid run) is skipped: the test runs on the finite values,
    and each index still counts every value given."""
    import numpy as np

    given = np.asarray(values, dtype=float)
    kept = np.flatnonzero(np.isfinite(given))
    return [(int(kept[index]), before, after, p_value) for index, before, after, p_value
            in _find_finite(given[kept], reference, recent, alpha, min_magnitude, sign)]


def _find_finite(x: np.ndarray, reference: int, recent: int, alpha: float,
                 min_magnitude: float, sign: int) -> list[tuple[int, float, float, float]]:
    """:func:`find` on finite values only."""
    import numpy as np
    from scipy.stats import t as student_t

    sides = 2 if sign == 0 else 1
    critical = student_t.isf(alpha / sides, np.arange(1, max(reference, MIN_REFERENCE)))
    total = np.concatenate(([0.0], np.cumsum(x)))
    squares = np.concatenate(([0.0], np.cumsum(x * x)))
    found: list[tuple[int, float, float, float]] = []
    start = 0  # first point of the current level
    for end in range(MIN_REFERENCE + 1, len(x) + 1):  # x[:end] has arrived
        if end - start <= MIN_REFERENCE:
            continue
        window = np.array([max(start + MIN_REFERENCE, end - recent)])
        mean_ref, mean_new, stat, n_ref = _t_statistics(total, squares, start, window, end,
                                                        reference, sign)
        if stat[0] <= critical[n_ref[0] - 2] or mean_ref[0] == 0:
            continue
        if abs(mean_new[0] / mean_ref[0] - 1) < min_magnitude:
            continue
        splits = np.arange(max(start + MIN_REFERENCE, end - LOCATE * recent), end)
        mean_ref, mean_new, stat, n_ref = _t_statistics(total, squares, start, splits, end,
                                                        reference, sign)
        best = int(np.argmax(stat))
        split = int(splits[best])
        found.append((split, float(mean_ref[best]), float(mean_new[best]),
                      float(sides * student_t.sf(stat[best], n_ref[best] - 1))))
        start = split
    return found
