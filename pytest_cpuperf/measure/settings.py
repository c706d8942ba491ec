"""How long and how often the engine times: :class:`EngineSettings`, light on purpose (the
plugin builds one at start-up, before any measurement needs the engine itself)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..defaults import (
    DEFAULT_MIN_ITERATIONS,
    DEFAULT_RETRY_BUDGET,
    DEFAULT_SETTLE_S,
    DEFAULT_TRIAL_TIME_S,
    DEFAULT_TRIALS,
    DEFAULT_WARMUP_MAX_S,
    DEFAULT_WARMUP_S,
)
from ..knobs import ENGINE_KNOBS


@dataclass(frozen=True)
class EngineSettings:
    """How long and how often to time. Defaults suit CI on a 2-core machine (see README)."""

    trials: int = DEFAULT_TRIALS
    trial_time_s: float = DEFAULT_TRIAL_TIME_S
    warmup_s: float = DEFAULT_WARMUP_S
    min_iterations: int = DEFAULT_MIN_ITERATIONS
    settle_s: float = DEFAULT_SETTLE_S
    """Pause before each interleaved trial, so the previous model's thread pool (OpenMP threads
    spin-wait for ~200 ms after their last parallel region) is idle when the next one starts."""
    warmup_max_s: float = DEFAULT_WARMUP_MAX_S
    """Cap of the warm-up when the rate does not get steady (``warmup_s`` is its minimum)."""
    retry_budget: float = DEFAULT_RETRY_BUDGET
    """Extra time for repeating contended trials, as a multiple of trials x trial_time."""
    reference: bool | None = None
    """Whether the ``cpuperf`` fixture measures with a same-run reference (reference.py; None,
    ``auto``: all but fast torch models, :func:`~.reference.unlike_reference`): the recorder
    builds it and decides, the engine interleaves the one it is given (a bare :func:`measure`
    call has none unless given one)."""

    def __post_init__(self) -> None:
        for knob in ENGINE_KNOBS:  # checked as the options table says, named as there
            value = getattr(self, knob.field)
            if not (knob.auto and value is None):
                knob.check(value, knob.name)
        _positive_int("min_iterations", self.min_iterations, minimum=1)
        if self.warmup_max_s < self.warmup_s:
            raise ValueError(f"warmup_max ({self.warmup_max_s!r} s) must be >= warmup "
                             f"({self.warmup_s!r} s): it caps the warm-up that warmup starts")

    @property
    def retry_budget_s(self) -> float:
        """Seconds the engine may spend on repeating contended trials, per measurement."""
        return self.retry_budget * self.trials * self.trial_time_s

    def with_overrides(self, **overrides: object) -> EngineSettings:
        """A copy with the non-``None`` overrides applied (validated)."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]


def _positive_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
