"""Default thresholds and timing, in one light module (tuned by benchmarks/, see README)."""

from __future__ import annotations

DEFAULT_TOLERANCE = 0.05
"""Allowed relative throughput loss."""
DEFAULT_ACCURACY_TOLERANCE = 0.005
"""Allowed absolute accuracy loss (half a point)."""
DEFAULT_NOISE_FLOOR = 0.02
"""Least run-to-run standard deviation of log throughput assumed by a verdict."""
DEFAULT_ALPHA = 0.05
"""One-sided significance level of a regression verdict. With the 0.02 noise floor this makes
the tolerance, not the noise, the threshold (1.645 x 0.028 = 4.7% < 5%). Measured on bert-base
(benchmarks/results/latest.md): 0/132 false alarms at alpha 0.01 and 2/132 at 0.05 with one
baseline run, 0/45 either way with three; an 8% slowdown caught in 82% / 90% of pairs at 0.01
and 93% / 97.5% at 0.05."""
DEFAULT_MAX_BUSY = 0.15
"""Share of the machine's CPU taken by other work above which a verdict is not trusted."""
DEFAULT_TRIALS = 5
DEFAULT_TRIAL_TIME_S = 1.0
DEFAULT_WARMUP_S = 0.5
DEFAULT_MIN_ITERATIONS = 3
DEFAULT_SETTLE_S = 0.3
"""Pause before each trial of an interleaved comparison (thread pools of the other model
spin-wait after their last parallel region: Intel OpenMP for ~200 ms by default)."""
