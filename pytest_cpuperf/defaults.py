"""Engine defaults in one light module: the user-settable ones come from the options table
(:mod:`pytest_cpuperf.knobs`, tuned by benchmarks/, see README; the settle pause is
``cpuperf ab --settle``'s); the rest are internal."""

from __future__ import annotations

from .knobs import AB_BY_NAME, BY_NAME

DEFAULT_TRIALS = int(BY_NAME["trials"].default)
DEFAULT_TRIAL_TIME_S = BY_NAME["trial_time"].default
DEFAULT_WARMUP_S = BY_NAME["warmup"].default
DEFAULT_WARMUP_MAX_S = BY_NAME["warmup_max"].default
DEFAULT_RETRY_BUDGET = BY_NAME["retry_budget"].default
DEFAULT_MIN_ITERATIONS = 3
DEFAULT_SETTLE_S = AB_BY_NAME["settle"].default
"""Pause before a trial of an interleaved comparison that follows a model whose thread pool
spin-waits after its last parallel region (Intel OpenMP for ~200 ms by default)."""
