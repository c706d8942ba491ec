"""Plain data produced by the engine: per-trial samples, latencies, kernels, versions.

Nothing here imports a runtime; every type round-trips through ``to_dict``/``from_dict`` so it
can be stored in baselines and reports, and sent between pytest-xdist workers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..stats.contention import contention_factor
from ..stats.intervals import coefficient_of_variation, log_mean_ci
from ..stats.percentiles import (
    PercentileBound,
    bound_or_nan,
    min_samples,
    nearest_rank,
    percentile_bound,
)
from .kernels import KernelReport


@dataclass(frozen=True)
class LatencySummary:
    """Latency of single inference requests over all trials, in milliseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float
    p90_bound: float = math.nan
    """Upper 99% order-statistic bound of p90 (NaN: too few samples; see latency.py)."""
    p99_bound: float = math.nan
    """Upper 99% order-statistic bound of p99 (NaN: too few samples)."""

    @classmethod
    def from_samples(cls, latencies_ms: Sequence[float]) -> LatencySummary:

        values = sorted(float(v) for v in latencies_ms)
        if not values:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan)
        return cls(
            count=len(values),
            p50=nearest_rank(values, 50),
            p90=nearest_rank(values, 90),
            p99=nearest_rank(values, 99),
            mean=sum(values) / len(values),
            min=values[0],
            max=values[-1],
            p90_bound=bound_or_nan(percentile_bound(values, 90)),
            p99_bound=bound_or_nan(percentile_bound(values, 99)),
        )

    def bounds(self) -> tuple[PercentileBound, PercentileBound]:
        """p90 and p99 with their bounds (what reports say about them)."""

        return tuple(  # type: ignore[return-value]
            PercentileBound(percent, self.count, estimate,
                            None if math.isnan(bound) else bound, min_samples(percent))
            for percent, estimate, bound in ((90, self.p90, self.p90_bound),
                                             (99, self.p99, self.p99_bound)))


@dataclass(frozen=True)
class Trial:
    """One timed trial: ``iterations`` requests completed in ``duration_s`` wall seconds."""

    iterations: int
    duration_s: float
    batch_size: int
    busy: float | None = None
    """Share of the machine's CPU used by other processes or stolen during the trial."""
    starved: float | None = None
    """Share of our threads' runnable time spent waiting for a CPU during the trial."""
    retries: int = 0
    """How many contended attempts of this trial were dropped and repeated before it."""
    contended: bool = False
    """Kept although other work contended it: the repeat budget was spent (see engine.py)."""

    @property
    def throughput(self) -> float:
        """Samples per second: batch x iterations / the trial's wall duration (its window)."""
        return self.batch_size * self.iterations / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class Measurement:
    """Throughput and latency of one compiled model, measured in several trials."""

    label: str
    backend: str
    trials: tuple[Trial, ...]
    latency: LatencySummary
    config: Mapping[str, Any] = field(default_factory=dict)
    kernels: KernelReport | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    requests: int = 1
    warmup_s: float = 0.0
    """Seconds the warm-up really took (it runs until the rate is steady, see engine.py)."""
    warmup_steady: bool | None = None
    """Whether the warm-up reached a steady rate before its cap (None: not checked)."""
    warmup_max_s: float = 0.0
    """The warm-up's cap (``--cpuperf-warmup-max``)."""
    dropped: tuple[Trial, ...] = ()
    """Contended trials that were dropped and repeated (in the order they ran)."""
    retry_budget_s: float = 0.0
    """Seconds the engine could spend repeating contended trials and waiting for quiet."""
    retry_spent_s: float = 0.0
    """Seconds it spent on them: the dropped trials plus the waits for a quiet machine."""
    reference: tuple[float, ...] = ()
    """Throughput of the same-run reference in each round, paired with :attr:`trials`
    (empty: measured without one; see reference.py)."""
    reference_id: str = ""
    """What the reference was (runtime, version, model, thread layout)."""

    @property
    def throughputs(self) -> tuple[float, ...]:
        """Per-trial throughput in samples per second."""
        return tuple(t.throughput for t in self.trials)

    @property
    def throughput(self) -> float:
        """Samples per second over the kept trials: their samples summed over their wall time
        summed, benchmark_app's definition of throughput. Not the median trial, which leaves a
        dip out and reads high where the machine's rate dips now and then (the fidelity
        evidence page; ``benchmarks/studies/estimator.py``)."""
        seconds = sum(t.duration_s for t in self.trials)
        samples = sum(t.batch_size * t.iterations for t in self.trials)
        return samples / seconds if seconds > 0 else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        """95% confidence interval of the typical trial throughput (t-interval on logs)."""

        return log_mean_ci(self.throughputs, confidence=0.95)

    @property
    def cv(self) -> float:
        """Trial-to-trial coefficient of variation of throughput."""

        return coefficient_of_variation(self.throughputs)

    @property
    def iterations(self) -> int:
        return sum(t.iterations for t in self.trials)

    @property
    def contention(self) -> tuple[float, ...]:
        """Per-trial factor correcting throughput for CPU time other work took (busy.py)."""

        return tuple(contention_factor(t.busy, t.starved) for t in self.trials)

    @property
    def corrected_throughputs(self) -> tuple[float, ...]:
        """Per-trial throughput corrected for CPU time other work took."""
        return tuple(t.throughput * c for t, c in zip(self.trials, self.contention, strict=True))

    @property
    def busy(self) -> float | None:
        """Median share of the machine other work took during the trials (None if unknown)."""
        values = sorted(t.busy for t in self.trials if t.busy is not None)
        return values[len(values) // 2] if values else None

    @property
    def contended_trials(self) -> int:
        """Trials kept although contended (the repeat budget ran out)."""
        return sum(1 for t in self.trials if t.contended)

    @property
    def batch_size(self) -> int:
        return self.trials[0].batch_size if self.trials else 1

    def describe(self) -> str:
        """One line: ``dense: 106.5 samples/s (95% CI 104.1-108.8), p90 18.9 ms, 5 trials``."""
        low, high = self.ci95
        text = (
            f"{self.label}: {self.throughput:.1f} samples/s (95% CI {low:.1f}-{high:.1f}), "
            f"p50 {self.latency.p50:.2f} ms, p90 {self.latency.p90:.2f} ms, "
            f"{len(self.trials)} trials, {self.iterations} iterations"
        )
        if self.kernels is not None:
            text += f"; kernels: {self.kernels.summary()}"
        if self.busy is not None and self.busy >= 0.05:
            text += f"; machine busy with other work: {self.busy:.0%}"
        return text + self._engine_note()

    def __str__(self) -> str:
        return self.describe()

    def _engine_note(self) -> str:
        """Warm-up length and where the repeat budget went, when there is something to say."""
        text = f"; warm-up {self.warmup_s:.1f} s"
        if self.warmup_steady is False:
            text += " (rate not steady at the cap)"
        if self.dropped:
            text += (f"; {len(self.dropped)} contended trial(s) repeated "
                     f"({self.retry_spent_s:.1f} of {self.retry_budget_s:.1f} s budget)")
        if self.contended_trials:
            text += f"; {self.contended_trials} trial(s) contended, budget spent"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "backend": self.backend,
            "throughput": self.throughput,
            "ci95": list(self.ci95),
            "trials": [asdict(t) for t in self.trials],
            "latency_ms": asdict(self.latency),
            "config": {k: _jsonable(v) for k, v in sorted(self.config.items())},
            "kernels": self.kernels.to_dict() if self.kernels else None,
            "versions": dict(sorted(self.versions.items())),
            "requests": self.requests,
            "warmup_s": self.warmup_s,
            "warmup_steady": self.warmup_steady,
            "warmup_max_s": self.warmup_max_s,
            "dropped": [asdict(t) for t in self.dropped],
            "retry_budget_s": self.retry_budget_s,
            "retry_spent_s": self.retry_spent_s,
            "reference": list(self.reference),
            "reference_id": self.reference_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        return cls(
            label=str(data["label"]),
            backend=str(data["backend"]),
            trials=tuple(Trial(**t) for t in data["trials"]),
            latency=_latency_summary(data["latency_ms"]),
            config=dict(data.get("config", {})),
            kernels=KernelReport.from_dict(data["kernels"]) if data.get("kernels") else None,
            versions=dict(data.get("versions", {})),
            requests=int(data.get("requests", 1)),
            warmup_s=float(data.get("warmup_s", 0.0)),
            warmup_steady=data.get("warmup_steady"),
            warmup_max_s=float(data.get("warmup_max_s", 0.0)),
            dropped=tuple(Trial(**t) for t in data.get("dropped", ())),
            retry_budget_s=float(data.get("retry_budget_s", 0.0)),
            retry_spent_s=float(data.get("retry_spent_s", 0.0)),
            reference=tuple(float(x) for x in data.get("reference", ())),
            reference_id=str(data.get("reference_id", "")),
        )


def _latency_summary(data: Mapping[str, Any]) -> LatencySummary:
    """A stored summary; its bounds may be null (strict JSON) or absent (older files)."""
    fields: dict[str, Any] = {k: math.nan if v is None else v for k, v in data.items()}
    return LatencySummary(**fields)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)
