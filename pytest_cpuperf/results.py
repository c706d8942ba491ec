"""Metrics a test records, their baselines, and the evaluated results that reports show.

* :class:`MetricRecord` - one figure measured now (throughput samples, an accuracy...).
* :class:`BaselineRecord` - the stored expectation for one (test, metric) on this machine.
* :class:`MetricResult` - a record held against its baseline and thresholds: the verdict.
* :class:`RunReport` - every result of one pytest session plus the machine; what the JSON report
  holds and what ``cpuperf compare`` / ``merge`` read.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .status import Status

REPORT_SCHEMA = "pytest-cpuperf/report"
REPORT_SCHEMA_VERSION = 1

#: Metric kinds: how a metric is compared.
RELATIVE_KINDS = ("throughput",)
"""Compared as a ratio with the two-level noise model (samples needed)."""
ABSOLUTE_KINDS = ("accuracy", "agreement")
"""Deterministic figures compared by an absolute difference."""
INFO_KINDS = ("latency", "info")
"""Recorded and shown against the baseline; gated only by absolute floors and ceilings."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def format_value(value: float, unit: str) -> str:
    """A metric value with its unit, at a precision that suits the unit."""
    if unit == "samples/s":
        return f"{value:.1f} {unit}"
    if unit == "ms":
        return f"{value:.3f} ms"
    return f"{value:.4f}" + (f" {unit}" if unit else "")


def _corrected(samples: list[float], contention: list[float]) -> list[float]:
    if len(contention) != len(samples):
        return list(samples)
    return [s * c for s, c in zip(samples, contention, strict=True)]


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _float_or_nan(value: Any) -> float:
    """A stored number; ``null`` (a non-finite value, see :func:`_round`) reads back as NaN."""
    return math.nan if value is None else float(value)


def is_finite(value: float, samples: Sequence[float] = ()) -> bool:
    """Whether ``value`` and every sample are finite numbers (no NaN, no infinity)."""
    return all(math.isfinite(v) for v in (value, *samples))


def json_safe(data: Any) -> Any:
    """``data`` with every non-finite float replaced by ``None``, so strict JSON can hold it."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, Mapping):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def _round(value: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits, so stored files diff cleanly."""
    return float(f"{value:.{digits}g}")


class _Contended:
    """Per-trial ``samples`` with their ``contention`` factors (see busy.py)."""

    samples: list[float]
    contention: list[float]

    @property
    def corrected(self) -> list[float]:
        """``samples`` corrected for contention (the samples as they are when unknown)."""
        return _corrected(self.samples, self.contention)

    @property
    def correction(self) -> float:
        """Mean contention factor of the trials (1.0: no correction)."""
        return sum(self.contention) / len(self.contention) if self.contention else 1.0


@dataclass
class MetricRecord(_Contended):
    """One figure a test measured."""

    test_id: str
    metric: str
    kind: str
    unit: str
    value: float
    samples: list[float] = field(default_factory=list)
    higher_is_better: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    kernels: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    date: str = field(default_factory=now_iso)
    busy: float | None = None
    """Share of the machine's CPU other work took while this was measured (None: unknown)."""
    contention: list[float] = field(default_factory=list)
    """Per-trial factor correcting ``samples`` for CPU time other work took (busy.py)."""

    @property
    def key(self) -> tuple[str, str]:
        return self.test_id, self.metric


    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; a non-finite number becomes ``null`` (strict JSON has no NaN)."""
        return json_safe({
            "test_id": self.test_id, "metric": self.metric, "kind": self.kind,
            "unit": self.unit, "value": _round(self.value),
            "samples": [_round(s) for s in self.samples],
            "higher_is_better": self.higher_is_better, "config": self.config,
            "versions": self.versions, "kernels": self.kernels, "extra": self.extra,
            "date": self.date, "busy": None if self.busy is None else round(self.busy, 3),
            "contention": [round(c, 4) for c in self.contention],
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricRecord:
        return cls(
            test_id=str(data["test_id"]), metric=str(data["metric"]), kind=str(data["kind"]),
            unit=str(data.get("unit", "")), value=_float_or_nan(data["value"]),
            samples=[_float_or_nan(s) for s in data.get("samples", [])],
            higher_is_better=bool(data.get("higher_is_better", True)),
            config=dict(data.get("config") or {}), versions=dict(data.get("versions") or {}),
            kernels=data.get("kernels"), extra=dict(data.get("extra") or {}),
            date=str(data.get("date", "")), busy=_optional_float(data.get("busy")),
            contention=[_float_or_nan(c) for c in data.get("contention") or []],
        )


@dataclass
class BaselineRun(_Contended):
    """One recorded run of a baseline: its samples, when, and with which libraries."""

    value: float
    samples: list[float]
    date: str
    versions: dict[str, str]
    busy: float | None = None
    contention: list[float] = field(default_factory=list)


    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "value": _round(self.value), "samples": [_round(s) for s in self.samples],
            "date": self.date, "versions": dict(sorted(self.versions.items()))}
        if self.busy is not None:
            data["busy"] = round(self.busy, 3)
        if self.contention:
            data["contention"] = [round(c, 4) for c in self.contention]
        return json_safe(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineRun:
        return cls(value=float(data["value"]), samples=[float(s) for s in data.get("samples", [])],
                   date=str(data.get("date", "")), versions=dict(data.get("versions") or {}),
                   busy=_optional_float(data.get("busy")),
                   contention=[float(c) for c in data.get("contention") or []])


@dataclass
class BaselineRecord:
    """The stored expectation for one metric: its recorded runs, newest last."""

    kind: str
    unit: str
    higher_is_better: bool
    runs: list[BaselineRun]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def latest(self) -> BaselineRun:
        return self.runs[-1]

    @property
    def value(self) -> float:
        """The baseline figure: the mean of the runs' values (geometric for throughput)."""
        import math

        values = [r.value for r in self.runs]
        if self.kind in RELATIVE_KINDS and all(v > 0 for v in values):
            return math.exp(sum(math.log(v) for v in values) / len(values))
        return sum(values) / len(values)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "kind": self.kind, "unit": self.unit, "higher_is_better": self.higher_is_better,
            "config": {k: self.config[k] for k in sorted(self.config)},
            "runs": [r.to_dict() for r in self.runs]})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineRecord:
        return cls(kind=str(data["kind"]), unit=str(data.get("unit", "")),
                   higher_is_better=bool(data.get("higher_is_better", True)),
                   runs=[BaselineRun.from_dict(r) for r in data["runs"]],
                   config=dict(data.get("config") or {}))

    @classmethod
    def from_record(cls, record: MetricRecord) -> BaselineRecord:
        return cls(kind=record.kind, unit=record.unit, higher_is_better=record.higher_is_better,
                   runs=[BaselineRun(record.value, list(record.samples), record.date,
                                     dict(record.versions), record.busy,
                                     list(record.contention))],
                   config=dict(record.config))


@dataclass
class MetricResult:
    """A metric held against its baseline and thresholds."""

    record: MetricRecord
    status: Status
    message: str
    baseline: BaselineRecord | None = None
    change: float | None = None
    """Relative change (throughput, latency) or absolute difference (accuracy, agreement)."""
    ci: tuple[float, float] | None = None
    p_value: float | None = None
    tolerance: float | None = None
    noise: float | None = None

    @property
    def test_id(self) -> str:
        return self.record.test_id

    @property
    def metric(self) -> str:
        return self.record.metric

    @property
    def relative(self) -> bool:
        return self.record.kind not in ABSOLUTE_KINDS

    @property
    def corrected(self) -> bool:
        """Whether the verdict used contention-corrected throughput (by more than 1%)."""
        factors = [self.record.correction]
        if self.baseline is not None:
            factors += [run.correction for run in self.baseline.runs]
        return self.record.kind in RELATIVE_KINDS and max(factors) > 1.01

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "test_id": self.test_id, "metric": self.metric, "status": self.status.value,
            "message": self.message, "current": self.record.to_dict(),
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "baseline_value": _round(self.baseline.value) if self.baseline else None,
            "change": None if self.change is None else _round(self.change),
            "change_kind": "relative" if self.relative else "absolute",
            "ci": None if self.ci is None else [_round(self.ci[0]), _round(self.ci[1])],
            "p_value": None if self.p_value is None else _round(self.p_value),
            "tolerance": self.tolerance,
            "noise": None if self.noise is None else _round(self.noise),
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricResult:
        ci = data.get("ci")
        return cls(
            record=MetricRecord.from_dict(data["current"]), status=Status(data["status"]),
            message=str(data.get("message", "")),
            baseline=BaselineRecord.from_dict(data["baseline"]) if data.get("baseline") else None,
            change=data.get("change"), ci=(float(ci[0]), float(ci[1])) if ci else None,
            p_value=data.get("p_value"), tolerance=data.get("tolerance"),
            noise=data.get("noise"),
        )


@dataclass
class RunReport:
    """All results of one session (or several merged), with the machine they ran on."""

    machine: dict[str, Any]
    results: list[MetricResult]
    created: str = field(default_factory=now_iso)
    versions: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
        return counts

    @property
    def failed(self) -> bool:
        return any(r.status.fails for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION,
            "created": self.created, "machine": self.machine, "versions": self.versions,
            "summary": self.counts(),
            "results": [r.to_dict() for r in sorted(self.results,
                                                    key=lambda r: (r.test_id, r.metric))],
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        return cls(machine=dict(data.get("machine") or {}),
                   results=[MetricResult.from_dict(r) for r in data.get("results", [])],
                   created=str(data.get("created", "")),
                   versions=dict(data.get("versions") or {}))


def sorted_results(results: Sequence[MetricResult]) -> list[MetricResult]:
    return sorted(results, key=lambda r: (r.test_id, r.metric))
