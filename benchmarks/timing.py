"""Time to verdict per metric at the default settings, from the workers' phase timings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_cpuperf.defaults import DEFAULT_TRIAL_TIME_S, DEFAULT_TRIALS, DEFAULT_WARMUP_S

from .common import median, rounded

PHASES = ("compile", "warmup", "kernels_pass", "startup_import")


def time_to_verdict(runs: Sequence[dict[str, Any]], variant: str = "reference") -> dict[str, Any]:
    """Median of each phase over ``variant``'s runs; trials at the default count and length."""
    chosen = [r for r in runs if r["variant"] == variant]
    phases = {p: median([r["times_s"][p] for r in chosen]) for p in PHASES}
    trial_s = median([d for r in chosen for d in r["trial_durations_s"]])
    trials_s = DEFAULT_TRIALS * trial_s
    fixed = phases["compile"] + phases["warmup"] + phases["kernels_pass"]
    return {
        "defaults": {"trials": DEFAULT_TRIALS, "trial_time_s": DEFAULT_TRIAL_TIME_S,
                     "warmup_s": DEFAULT_WARMUP_S},
        "phases_s": {p: rounded(v) for p, v in phases.items()},
        "median_trial_s": rounded(trial_s),
        "trials_s": rounded(trials_s),
        "fixed_s": rounded(fixed),
        "per_metric_s": rounded(fixed + trials_s),
        "note": "per metric = compile + warm-up (first inference + warmup_s) + trials + kernels "
                "pass; startup_import is paid once per pytest process",
    }
