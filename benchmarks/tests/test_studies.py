"""The fidelity studies' arithmetic on made data: benchmarks/studies/ramp.py and drift.py."""

from __future__ import annotations

import math

from benchmarks.studies.drift import lag1, pair_sd, per_second
from benchmarks.studies.ramp import cold_cost, first_inference_excess_ms


def test_ramp_cold_cost_is_the_first_inferences_excess_over_the_window() -> None:
    """What benchmark_app's window right after a compile pays for its requests' first
    inferences."""
    row = {"nireq": 2, "benchmark_app_style": {"fps": 100.0, "first_latency_ms": [26.0, 19.0]}}
    assert first_inference_excess_ms(row) == 6.0  # 20 ms is the window's mean latency
    assert "0.050% of the window's stream time" in cold_cost([row], 6.0)


def test_drift_slices_cancel_a_slow_drift_that_halves_do_not() -> None:
    """A rate that swings slowly (a 20 s period) splits unevenly into 6 s halves and evenly
    into A-B-B-A slices of 0.25 s."""
    stamps, t = [], 0.0
    while t < 120:
        t += 1 / (100 * (1 + 0.1 * math.sin(2 * math.pi * t / 20)))
        stamps.append(t)
    assert min(per_second(stamps)) >= 89 and max(per_second(stamps)) <= 111
    assert lag1([math.log(r) for r in per_second(stamps)]) > 0.8
    assert pair_sd(stamps, 6.0, "ABBA") > 0.05
    assert pair_sd(stamps, 0.25, "ABBA") < 0.01
