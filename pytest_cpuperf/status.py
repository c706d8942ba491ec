"""Verdict statuses (no dependencies, so the plugin can import it cheaply)."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """Outcome of comparing a metric with its baseline and thresholds."""

    PASS = "pass"
    IMPROVEMENT = "improvement"
    REGRESSION = "regression"
    INCONCLUSIVE = "inconclusive"
    NO_BASELINE = "no baseline"
    BELOW_FLOOR = "below floor"
    ABOVE_CEILING = "above ceiling"
    OTHER_MACHINE = "other machine"
    """The baseline was recorded on another machine class: not judged (never fails)."""
    INVALID = "invalid"
    """A value or sample is NaN or infinite: nothing can be judged from it."""
    KERNELS_CHANGED = "kernels changed"
    """``kernels="same"``: the kernel mix differs from the baseline's latest run."""
    KERNEL_RULE = "kernel rule"
    """A ``kernels={...}`` rule (``sparse_layers >= 50``...) does not hold."""

    @property
    def fails(self) -> bool:
        """Whether this outcome fails the test (unless ``--cpuperf-warn-only``)."""
        return self in (Status.REGRESSION, Status.BELOW_FLOOR, Status.ABOVE_CEILING,
                        Status.INVALID, Status.KERNELS_CHANGED, Status.KERNEL_RULE)
