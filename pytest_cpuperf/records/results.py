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

from ..stats.resolution import ruled_out
from ..status import Status
from .artifact import AGAINST, Fingerprint, read_fingerprint

REPORT_SCHEMA = "pytest-cpuperf/report"
REPORT_SCHEMA_VERSION = 1

#: Metric kinds: how a metric is compared.
RELATIVE_KINDS = ("throughput",)
"""Compared as a ratio with the two-level noise model (samples needed)."""
ABSOLUTE_KINDS = ("accuracy", "agreement")
"""Deterministic figures compared by an absolute difference."""
INFO_KINDS = ("latency", "info")
"""Recorded and shown against the baseline; gated only by absolute floors and ceilings."""
COLD_KINDS = ("cold",)
"""One value per fresh process (cold start, peak memory; measure/coldstart.py): the samples are
the processes' values, judged as throughput's trials are (log ratio, same noise model)."""
RATIO_KINDS = ("speedup",)
"""A same-run ratio of two interleaved measurements (``cpuperf.compare``): judged by its own
confidence interval against a ``min_speedup`` floor, so it needs no baseline."""
SAMPLED_KINDS = (*RELATIVE_KINDS, *COLD_KINDS)
"""Kinds judged by :func:`~pytest_cpuperf.stats.intervals.throughput_change` on their samples."""
BASES = ("raw", "corrected", "reference")
"""What a throughput change can be computed from (``MetricResult.basis``)."""
INCONCLUSIVE_MODES = ("warn", "fail")
"""What an inconclusive verdict does to its test (``--cpuperf-inconclusive``)."""


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def format_value(value: float, unit: str) -> str:
    """A metric value with its unit, at a precision that suits the unit."""
    if unit == "samples/s":
        return f"{value:.1f} {unit}"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit in ("s", "MB"):
        return f"{value:.{3 if unit == 's' else 1}f} {unit}"
    return f"{value:.4f}" + (f" {unit}" if unit else "")


def rules_out_phrase(rules_out: float, tolerance: float | None, level: float | None) -> str:
    """``rules out a regression above 1.8% (90% CI)``, or ``could not rule out a regression up
    to 31% (90% CI)`` when ``rules_out`` is beyond ``tolerance`` (None: a verdict that stands
    whatever its interval): what a verdict could have seen (:attr:`MetricResult.rules_out`)."""
    ci = f" ({level:.0%} CI)" if level else ""
    if tolerance is not None and rules_out > tolerance:
        return f"could not rule out a regression up to {rules_out:.1%}{ci}"
    if rules_out <= 0.0:
        return f"rules out any regression{ci}"
    return f"rules out a regression above {rules_out:.1%}{ci}"


def _corrected(samples: list[float], contention: list[float]) -> list[float]:
    if len(contention) != len(samples):
        return list(samples)
    return [s * c for s, c in zip(samples, contention, strict=True)]


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


class Fields:
    """Typed reads of one stored JSON object; a ``ValueError`` names ``where`` and the field."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__} {data!r}")
        self.data, self.where = data, where

    def _bad(self, key: str, wanted: str) -> ValueError:
        return ValueError(f"{self.where}: field {key!r} must be {wanted}, got "
                          f"{self.data.get(key)!r}")

    def number(self, key: str, *, null: bool = False) -> float:
        """A finite number (``null`` reads as NaN where ``null`` is allowed: invalid values)."""
        value = self.data.get(key)
        if value is None and null and key in self.data:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise self._bad(key, "a finite number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return None if self.data.get(key) is None else self.number(key)

    def numbers(self, key: str, *, null: bool = False, nonempty: bool = False) -> list[float]:
        values = self.data.get(key) or []
        ok = isinstance(values, list) and all(
            (v is None and null) or (isinstance(v, (int, float)) and not isinstance(v, bool)
                                     and math.isfinite(v)) for v in values)
        if not ok or (nonempty and not values):
            raise self._bad(key, ("a non-empty " if nonempty else "a ") + "list of numbers")
        return [math.nan if v is None else float(v) for v in values]

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._bad(key, "an object")
        return dict(value)

    def versions(self, key: str = "versions") -> dict[str, str]:
        value = self.mapping(key)
        if not all(isinstance(v, str) for v in value.values()):
            raise self._bad(key, "an object of package names and version strings")
        return value

    def kind(self, key: str = "kind") -> str:
        value = self.text(key)
        kinds = (*RELATIVE_KINDS, *ABSOLUTE_KINDS, *INFO_KINDS, *COLD_KINDS, *RATIO_KINDS)
        if value not in kinds:
            raise self._bad(key, f"one of {', '.join(kinds)}")
        return value


def machine_from_dict(data: Any, where: str) -> dict[str, Any]:
    """The ``machine`` object of a stored file (an object; ``null`` or absent: unknown)."""
    return Fields({"machine": data}, where).mapping("machine")


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


def _reference_dict(reference: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(reference.get("id", "")),
            "samples": [_round(float(s)) for s in reference.get("samples", [])]}


def _read_reference(f: Fields) -> dict[str, Any] | None:
    """A stored ``reference`` (``{"id", "samples"}``), checked; None when absent."""
    if f.data.get("reference") is None:
        return None
    data = f.mapping("reference")
    inner = Fields(data, f"{f.where} reference")
    return {"id": inner.text("id"), "samples": inner.numbers("samples")}


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
    reference: dict[str, Any] | None = None
    """The same-run reference: ``{"id": what it was, "samples": its rate per trial}``."""
    artifact: Fingerprint | None = None
    """What was measured (a throughput metric of a model read from a file), else None."""

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
            **({"reference": _reference_dict(self.reference)} if self.reference else {}),
            **({"artifact": self.artifact.to_dict()} if self.artifact else {}),
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "record") -> MetricRecord:
        """Read a record; non-finite figures were written as ``null`` and read back as NaN."""
        f = Fields(data, where)
        f = Fields(data, f"{where} {f.text('test_id')} / {f.text('metric')}")
        kernels = f.mapping("kernels") if data.get("kernels") is not None else None
        return cls(
            test_id=f.text("test_id"), metric=f.text("metric"), kind=f.kind(),
            unit=f.text("unit", ""), value=f.number("value", null=True),
            samples=f.numbers("samples", null=True),
            higher_is_better=f.flag("higher_is_better", True), config=f.mapping("config"),
            versions=f.versions(), kernels=kernels, extra=f.mapping("extra"),
            date=f.text("date", ""), busy=f.optional_number("busy"),
            contention=f.numbers("contention", null=True),
            reference=_read_reference(f), artifact=read_fingerprint(data, f.where),
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
    kernels: dict[str, Any] | None = None
    """The kernels that ran (reports show what changed since); None: not recorded."""
    reference: dict[str, Any] | None = None
    """The same-run reference of this run (see :attr:`MetricRecord.reference`)."""
    profile: dict[str, float] | None = None
    """ms per inference by ``"layer type:exec type"`` (records/profile.py); None: not recorded."""

    @classmethod
    def from_record(cls, record: MetricRecord) -> BaselineRun:
        """The run a measured record becomes when it is stored as a baseline."""
        profile = record.extra.get("profile_ms")
        return cls(record.value, list(record.samples), record.date, dict(record.versions),
                   record.busy, list(record.contention),
                   dict(record.kernels) if record.kernels else None,
                   reference=_reference_dict(record.reference) if record.reference else None,
                   profile=dict(profile) if isinstance(profile, Mapping) and profile else None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "value": _round(self.value), "samples": [_round(s) for s in self.samples],
            "date": self.date, "versions": dict(sorted(self.versions.items()))}
        if self.busy is not None:
            data["busy"] = round(self.busy, 3)
        if self.contention:
            data["contention"] = [round(c, 4) for c in self.contention]
        if self.kernels:
            data["kernels"] = self.kernels
        if self.reference:
            data["reference"] = _reference_dict(self.reference)
        if self.profile:
            data["profile_ms"] = self.profile
        return json_safe(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "baseline run") -> BaselineRun:
        f = Fields(data, where)
        return cls(value=f.number("value"), samples=f.numbers("samples"),
                   date=f.text("date", ""), versions=f.versions(),
                   busy=f.optional_number("busy"), contention=f.numbers("contention"),
                   kernels=f.mapping("kernels") or None, reference=_read_reference(f),
                   profile=f.mapping("profile_ms") or None)


@dataclass
class BaselineRecord:
    """The stored expectation for one metric: its recorded runs, newest last."""

    kind: str
    unit: str
    higher_is_better: bool
    runs: list[BaselineRun]
    config: dict[str, Any] = field(default_factory=dict)
    artifact: Fingerprint | None = None
    """What the runs measured (their model files, compile recipe and runtime); None: not
    recorded (files written before fingerprints were kept, models not read from a file)."""

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
            **({"artifact": self.artifact.to_dict()} if self.artifact else {}),
            "runs": [r.to_dict() for r in self.runs]})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "baseline record") -> BaselineRecord:
        f = Fields(data, where)
        runs = data.get("runs")
        if not isinstance(runs, list) or not runs:
            raise f._bad("runs", "a non-empty list of recorded runs")
        return cls(kind=f.kind(), unit=f.text("unit", ""),
                   higher_is_better=f.flag("higher_is_better", True),
                   runs=[BaselineRun.from_dict(r, f"{where}, run {i + 1}")
                         for i, r in enumerate(runs)],
                   config=f.mapping("config"), artifact=read_fingerprint(data, where))

    @classmethod
    def from_record(cls, record: MetricRecord) -> BaselineRecord:
        return cls(kind=record.kind, unit=record.unit, higher_is_better=record.higher_is_better,
                   runs=[BaselineRun.from_record(record)], config=dict(record.config),
                   artifact=record.artifact)


def records_from_dict(data: Any) -> dict[str, dict[str, BaselineRecord]]:
    """The ``records`` of a baseline file, ``records[test_id][metric]``, every field checked."""
    tests = Fields({"records": data}, "top level").mapping("records")
    records: dict[str, dict[str, BaselineRecord]] = {}
    for test, metrics in tests.items():
        metrics = Fields({"metrics": metrics}, f"test {test}").mapping("metrics")
        records[test] = {metric: BaselineRecord.from_dict(rec, f"{test} / {metric}")
                         for metric, rec in metrics.items()}
    return records


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
    ci_level: float | None = None
    """Confidence level of ``ci`` (0.90: a two-sided 90% interval)."""
    policy: dict[str, Any] | None = None
    """The policy the metric was judged with (``Policy.to_dict``, plus the ``kernels`` gate
    when the marker set one), so it can be judged again."""
    test_failure: str | None = None
    """Why the test itself failed (an assertion of its own), when it did."""
    basis: str | None = None
    """What a throughput change was computed from: ``raw``, ``corrected`` (for contention) or
    ``reference`` (relative to the same-run reference); None for other metrics and for results
    written before it was kept."""
    against: str | None = None
    """What a throughput verdict held the figure against: ``same-moment`` (the baseline's
    artifact measured interleaved with this one in this run: ``change`` and ``ci`` are of the
    ratio candidate/baseline) or ``stored`` (the stored figure); None for other metrics."""
    artifacts: dict[str, str] | None = None
    """The artifact hashes: ``{"candidate": sha256, "baseline": sha256}`` (each where known)."""
    against_note: str | None = None
    """Why no same-moment measurement ran (``stored``), or what its ratio is against."""

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
    def rules_out(self) -> float | None:
        """The largest regression the change interval rules out at its level, as a positive
        fraction in the metric's bad direction (0: any regression ruled out), for a metric
        judged relatively on its samples against a baseline (throughput, cold start; also
        ``cpuperf ab``'s base); None for others."""
        if self.ci is None or self.baseline is None or self.record.kind not in SAMPLED_KINDS:
            return None
        return ruled_out(self.ci[0], self.ci[1], self.record.higher_is_better)

    def rules_out_phrase(self) -> str | None:
        """:func:`rules_out_phrase` of this result (None: no such figure, or a regression,
        which its interval already establishes)."""
        if self.rules_out is None or self.status not in (Status.PASS, Status.IMPROVEMENT,
                                                         Status.INCONCLUSIVE):
            return None
        undecided = self.tolerance if self.status is Status.INCONCLUSIVE else None
        return rules_out_phrase(self.rules_out, undecided, self.ci_level)

    @property
    def corrected(self) -> bool:
        """Whether the verdict used contention-corrected throughput (by more than 1%)."""
        if self.basis is not None:
            return self.basis == "corrected"
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
            "rules_out": None if self.rules_out is None else _round(self.rules_out),
            "p_value": None if self.p_value is None else _round(self.p_value),
            "tolerance": self.tolerance,
            "noise": None if self.noise is None else _round(self.noise),
            "ci_level": self.ci_level, "policy": self.policy,
            "test_failure": self.test_failure, "basis": self.basis,
            "against": self.against, "artifacts": self.artifacts,
            "against_note": self.against_note,
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricResult:
        """Read a result; ``rules_out`` is checked (a number >= 0 or null, absent in files
        written before it was kept) and derived again from ``ci``."""
        ci = data.get("ci")
        record = MetricRecord.from_dict(Fields(data, "result").mapping("current"))
        where = f"result {record.test_id} / {record.metric}"
        rules_out = Fields(data, where).optional_number("rules_out")
        if rules_out is not None and rules_out < 0:
            raise ValueError(f"{where}: field 'rules_out' must be a number >= 0 or null, got "
                             f"{rules_out!r}")
        try:
            status = Status(data.get("status"))
        except ValueError:
            raise ValueError(f"result {record.test_id} / {record.metric}: field 'status' must "
                             f"be one of {', '.join(s.value for s in Status)}, got "
                             f"{data.get('status')!r}") from None
        return cls(
            record=record, status=status,
            message=str(data.get("message", "")),
            baseline=BaselineRecord.from_dict(data["baseline"]) if data.get("baseline") else None,
            change=data.get("change"), ci=(float(ci[0]), float(ci[1])) if ci else None,
            p_value=data.get("p_value"), tolerance=data.get("tolerance"),
            noise=data.get("noise"), ci_level=data.get("ci_level"),
            policy=dict(data["policy"]) if isinstance(data.get("policy"), dict) else None,
            test_failure=data.get("test_failure"),
            basis=data["basis"] if data.get("basis") in BASES else None,
            against=data["against"] if data.get("against") in AGAINST else None,
            artifacts=_artifacts(data.get("artifacts")),
            against_note=data.get("against_note") if isinstance(data.get("against_note"), str)
            else None,
        )


def _artifacts(data: Any) -> dict[str, str] | None:
    """A result's ``artifacts`` (``{"candidate": ..., "baseline": ...}``), strings only."""
    if not isinstance(data, Mapping):
        return None
    return {k: v for k, v in data.items() if k in ("candidate", "baseline")
            and isinstance(v, str)} or None


def _errors(data: Mapping[str, Any]) -> list[str]:
    errors = data.get("errors") or []
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise ValueError(f"top level: field 'errors' must be a list of strings, got {errors!r}")
    return list(errors)


def _failed_tests(data: Mapping[str, Any]) -> dict[str, str]:
    failed = data.get("failed_tests") or {}
    if not isinstance(failed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in failed.items()):
        raise ValueError(f"top level: field 'failed_tests' must map test ids to reasons, got "
                         f"{failed!r}")
    return dict(failed)


def _unmeasured(data: Mapping[str, Any]) -> list[dict[str, str]]:
    items = data.get("unmeasured") or []
    keys = {"test_id", "metric", "why"}
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and set(i) == keys and all(isinstance(v, str) for v in i.values())
            for i in items):
        raise ValueError(f"top level: field 'unmeasured' must be a list of {sorted(keys)} "
                         f"objects of strings, got {items!r:.200}")
    return [dict(i) for i in items]


def _inconclusive(data: Mapping[str, Any]) -> str | None:
    mode = data.get("inconclusive")
    if mode is not None and mode not in INCONCLUSIVE_MODES:
        raise ValueError(f"top level: field 'inconclusive' must be one of "
                         f"{', '.join(INCONCLUSIVE_MODES)} or null, got {mode!r:.200}")
    return mode


def _empty_tests(data: Mapping[str, Any]) -> list[str]:
    items = data.get("empty_tests") or []
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"top level: field 'empty_tests' must be a list of test ids, got "
                         f"{items!r:.200}")
    return list(items)


@dataclass
class RunReport:
    """All results of one session (or several merged), with the machine they ran on."""

    machine: dict[str, Any]
    results: list[MetricResult]
    created: str = field(default_factory=now_iso)
    versions: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    """What kept the run from judging or storing (a damaged baseline file...): it failed."""
    failed_tests: dict[str, str] = field(default_factory=dict)
    """Tests that failed or errored, whether or not they recorded metrics: id -> why."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything a ``pytest_cpuperf_update_report`` hook (or ``cpuperf ab``) adds."""
    unmeasured: list[dict[str, str]] = field(default_factory=list)
    """Stored metrics the run did not produce: ``{"test_id", "metric", "why"}`` each."""
    empty_tests: list[str] = field(default_factory=list)
    """cpuperf tests that passed without recording any metric."""
    inconclusive: str | None = None
    """What an inconclusive verdict did to its test: ``warn`` or ``fail``
    (``--cpuperf-inconclusive``); None: not said (files written before it was kept)."""

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
        return counts

    @property
    def failed(self) -> bool:
        """A gate failed (an inconclusive verdict too, under ``inconclusive`` ``fail``), the
        run could not judge or store, or a test failed."""
        return bool(self.errors or self.failed_tests) or any(
            r.status.fails or (r.status is Status.INCONCLUSIVE and self.inconclusive == "fail")
            for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "schema": REPORT_SCHEMA, "schema_version": REPORT_SCHEMA_VERSION,
            "created": self.created, "machine": self.machine, "versions": self.versions,
            "summary": self.counts(), "errors": list(self.errors),
            "failed_tests": dict(sorted(self.failed_tests.items())), "extra": self.extra,
            "unmeasured": list(self.unmeasured), "empty_tests": list(self.empty_tests),
            "inconclusive": self.inconclusive,
            "results": [r.to_dict() for r in sorted(self.results,
                                                    key=lambda r: (r.test_id, r.metric))],
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunReport:
        return cls(machine=machine_from_dict(data.get("machine"), "top level"),
                   results=[MetricResult.from_dict(r) for r in data.get("results", [])],
                   created=str(data.get("created", "")),
                   versions=Fields(data, "top level").versions(), errors=_errors(data),
                   failed_tests=_failed_tests(data),
                   extra=dict(data["extra"]) if isinstance(data.get("extra"), dict) else {},
                   unmeasured=_unmeasured(data), empty_tests=_empty_tests(data),
                   inconclusive=_inconclusive(data))


def sorted_results(results: Sequence[MetricResult]) -> list[MetricResult]:
    return sorted(results, key=lambda r: (r.test_id, r.metric))
