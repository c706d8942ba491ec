"""What a change interval could have seen: the largest regression it rules out.

No numpy or scipy here, so the data model (records/results.py) can use it at no import cost.
"""

from __future__ import annotations


def ruled_out(low: float, high: float, higher_is_better: bool = True) -> float:
    """The largest regression the change interval ``[low, high]`` rules out at its level, as a
    positive fraction in the metric's bad direction: ``-low`` for a higher-is-better metric
    (throughput), ``high`` for a lower-is-better one (a time, a size); 0 when the interval rules
    out any regression (it lies wholly on the good side of no change)."""
    worst = -low if higher_is_better else high
    return max(0.0, float(worst))
