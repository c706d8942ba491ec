"""The ``cpuperf`` fixture: measure, compare and score models, recording each figure as a metric.

Every figure recorded here is held against its baseline when the test ends (see session.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends.base import BackendUnavailable, CompiledModel, Inputs
from .errors import CpuperfUsageError
from .judge.evaluate import REFERENCE_NOTE_KEY
from .judge.kernels import with_execution
from .measure import coldstart, engine
from .measure.accuracy import AccuracyResult, AgreementResult, agreement, evaluate_accuracy
from .measure.coldstart import ColdStart
from .measure.engine import TRIAL_DRIVER, Comparison, EngineSettings
from .measure.reference import Reference, reference_for, unlike_reference
from .measure.turns import in_turns
from .progress import Progress
from .records.artifact import SAME_MOMENT_KEY, STORED_WHY_KEY, Fingerprint
from .records.measurement import Measurement
from .records.profile import PROFILE_KEY, profile_of
from .records.results import (
    ABSOLUTE_KINDS,
    COLD_KINDS,
    INFO_KINDS,
    RATIO_KINDS,
    RELATIVE_KINDS,
    SAMPLED_KINDS,
    MetricRecord,
)
from .same_moment import Plan, SameMoment

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def is_metric_name(metric: object) -> bool:
    """``name`` or ``name/name...``: no empty, ``.`` or ``..`` part (never a path)."""
    return isinstance(metric, str) and all(
        _NAME.match(part) and part not in (".", "..") for part in metric.split("/"))


def _check_compiled(model: object, method: str) -> None:
    """A usage error unless ``model`` is a compiled model (from a backend fixture)."""
    if not all(hasattr(model, attr) for attr in ("timing_target", "example_inputs", "label")):
        raise CpuperfUsageError(
            f"cpuperf.{method}() takes a compiled model (from ov_compile, ipex_optimize or "
            f"torch_optimize), got {type(model).__name__} {model!r:.80}; compile it first, e.g. "
            f"cpuperf.{method}(ov_compile(path), ...)")


def _number(what: str, value: object) -> float:
    """``value`` as a float (NaN and infinity allowed: they get the verdict "invalid")."""
    if isinstance(value, bool):
        raise CpuperfUsageError(f"record(): {what} must be numbers, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise CpuperfUsageError(f"record(): {what} must be numbers, got {value!r}") from None


@dataclass
class Recorder:
    """What a test uses to measure. Created per test by the ``cpuperf`` fixture."""

    test_id: str
    engine_settings: EngineSettings
    progress: Progress | None = None
    same_moment: SameMoment | None = None
    """Keeps measured artifacts (update) or measures a baseline's beside the candidate (gate);
    None: neither."""

    def __post_init__(self) -> None:
        self.records: list[MetricRecord] = []
        self.errors: list[str] = []
        """What kept an artifact out of the store (the run fails on it)."""

    # -- timing ---------------------------------------------------------------------------

    def _settings(self, trials: int | None, trial_time: float | None,
                  warmup: float | None) -> EngineSettings:
        try:
            return self.engine_settings.with_overrides(trials=trials, trial_time_s=trial_time,
                                                       warmup_s=warmup)
        except ValueError as exc:
            raise CpuperfUsageError(f"cpuperf: {exc}") from exc

    def measure(self, compiled: CompiledModel, *, inputs: Inputs | None = None,
                name: str = "", trials: int | None = None, trial_time: float | None = None,
                warmup: float | None = None, record: bool = True) -> Measurement:
        """Time ``compiled`` (trials after an excluded warm-up) and record its throughput and
        p90 latency as metrics ``[name/]throughput`` and ``[name/]latency_p90_ms``.

        In a gate run, when the throughput baseline measured another artifact (model files or
        compile recipe) kept in the artifact store, that artifact is compiled again and timed
        interleaved with ``compiled`` (same-moment; see :mod:`~pytest_cpuperf.same_moment`)."""

        _check_compiled(compiled, "measure")
        settings = self._settings(trials, trial_time, warmup)
        prefix = self._prefix(name, record)
        plan = self._plan(compiled, f"{prefix}throughput") if record else None
        if plan is not None and plan.model is not None:
            beside = self._beside(compiled, plan, inputs, settings)
            if beside is not None:
                self._record_measurement(prefix, beside.a, compiled, plan=plan,
                                         baseline_run=beside.b)
                return beside.a
        reference, why_not = self._reference(compiled, settings, inputs)
        measurement = engine.measure(compiled, inputs, settings, progress=self.progress,
                                     reference=reference)
        if record:
            self._record_measurement(prefix, measurement, compiled, why_not, plan=plan)
        return measurement

    def _plan(self, compiled: CompiledModel, metric: str) -> Plan | None:
        """What this throughput metric is held against (None: no artifacts in this run, or
        ``cpuperf ab``, whose pairs measure base and head side by side already)."""
        if self.same_moment is None or TRIAL_DRIVER.get() is not None:
            return None
        plan = self.same_moment.plan(compiled, self.test_id, metric)
        self.errors.extend(plan.errors)
        return plan

    def _beside(self, compiled: CompiledModel, plan: Plan, inputs: Inputs | None,
                settings: EngineSettings) -> Comparison | None:
        """``compiled`` and the baseline's artifact measured interleaved; None (with the
        reason in ``plan``) when the baseline's model does not take these inputs."""
        assert plan.model is not None and plan.baseline is not None
        if self.progress:
            self.progress(f"same-moment: measuring baseline artifact {plan.baseline.short} "
                          f"beside {compiled.label}")
        try:
            return engine.compare(compiled, plan.model, inputs,
                                  in_turns(settings, (compiled.backend, plan.model.backend)),
                                  progress=self.progress)
        except CpuperfUsageError as exc:
            plan.why = (f"baseline artifact {plan.baseline.short} could not be measured beside "
                        f"this model: {exc}")
            plan.model = plan.baseline = None
            return None

    def compare(self, a: CompiledModel, b: CompiledModel, *, inputs: Inputs | None = None,
                inputs_b: Inputs | None = None, names: tuple[str, str] | None = None,
                trials: int | None = None, trial_time: float | None = None,
                warmup: float | None = None) -> Comparison:
        """Interleaved A/B trials (ABAB..., alternating who goes first). Returns the ratio A/B
        with its CI and p-value. With ``names=("sparse", "dense")`` both measurements are also
        recorded as metrics and gated against their baselines."""

        _check_compiled(a, "compare")
        _check_compiled(b, "compare")
        settings = self._settings(trials, trial_time, warmup)
        prefixes = None
        if names is not None:
            if (not isinstance(names, (tuple, list)) or len(names) != 2
                    or names[0] == names[1]):
                raise CpuperfUsageError(
                    f"names must be two different metric names such as ('sparse', 'dense'), "
                    f"got {names!r}")
            prefixes = (self._prefix(names[0], True), self._prefix(names[1], True))
        reference, why_not = self._reference(a, settings, inputs) if prefixes else (None, "")
        result = engine.compare(a, b, inputs, settings, inputs_b=inputs_b,
                                progress=self.progress, reference=reference)
        if prefixes is not None:
            self._record_measurement(prefixes[0], result.a, a, why_not)
            self._record_measurement(prefixes[1], result.b, b, why_not)
            self._record_speedup(names, result)  # type: ignore[arg-type]
        return result

    def _record_speedup(self, names: tuple[str, str], result: Comparison) -> None:
        """``A_vs_B/speedup``: the same-run ratio with its interval, gated by ``min_speedup``
        with no baseline needed (the claim holds in this run or it does not)."""
        ratio = result.ratio
        samples = [x / y for x, y in zip(result.a.throughputs, result.b.throughputs,
                                         strict=True) if y > 0]
        self.record(f"{names[0]}_vs_{names[1]}/speedup", ratio.ratio, kind="speedup", unit="x",
                    samples=samples,
                    extra={"ci_low": ratio.low, "ci_high": ratio.high, "ci_level": 0.95,
                           "p_value": ratio.p_value, "pairs": ratio.pairs,
                           "a": names[0], "b": names[1],
                           "a_label": result.a.label, "b_label": result.b.label})

    def _reference(self, compiled: CompiledModel, settings: EngineSettings,
                   inputs: Inputs | None = None) -> tuple[Reference | None, str]:
        """The same-run reference for ``compiled`` when ``--cpuperf-reference`` asks for one,
        and why not where ``auto`` (the default) left it out
        (:func:`~.reference.unlike_reference`)."""

        if settings.reference is False or TRIAL_DRIVER.get() is not None:
            return None, ""  # off, or cpuperf ab, whose pairs cancel the machine's moment
        try:
            reference = reference_for(compiled, self.progress)
        except ImportError as exc:  # it needs the model-building extras (torch, nncf...)
            import warnings

            import pytest

            warnings.warn(pytest.PytestWarning(
                f"cpuperf: {self.test_id}: no same-run reference ({exc}); throughput is judged "
                f"raw. Install the model-building extras (pip install 'pytest-cpuperf[openvino]')"
                f" or turn it off with --cpuperf-reference false"), stacklevel=2)
            return None, ""
        if settings.reference is None:
            why_not = unlike_reference(compiled, inputs, reference, settings)
            if why_not:
                return None, why_not
        return reference, ""

    # -- cold start -----------------------------------------------------------------------

    def cold_start(self, model: Any, *, backend: str = "openvino", repeats: int = 5,
                   name: str = "cold", timeout: float = 600.0, **options: Any) -> ColdStart:
        """Read + compile and first-inference time and peak RSS of ``model`` (a model file, or
        a function returning one), each in ``repeats`` fresh processes; ``options`` are the
        backend fixture's keywords (``ov_compile``'s: ``streams=2, sparse_rate=0.75``...).
        For ``backend="torch"``/``"ipex"``, ``model`` is a factory of the ``torch.nn.Module``
        (``"package.module:function"`` or a top-level function) and ``compile_s`` times
        ``torch_optimize``/``ipex_optimize`` on what it built; IPEX unusable here skips.
        Records ``name/compile_s``, ``name/first_inference_ms``, ``name/peak_rss_compile_mb``,
        ``name/peak_rss_infer_mb`` (medians; the per-process values are the samples judged
        against the baseline, lower is better) and ``name/model_size_mb``."""

        try:
            request = coldstart.check_request(model, backend=backend, repeats=repeats,
                                              timeout=timeout, options=options)
        except BackendUnavailable as exc:
            import pytest

            pytest.skip(str(exc))
        prefix = self._prefix(name, False)
        names = [f"{prefix}{metric}" for metric, _, _ in coldstart.METRICS]
        if set(names) & {r.metric for r in self.records}:
            raise CpuperfUsageError(
                f"this test already recorded a cold start named {name!r}; give each cold "
                f"start its own name=")
        result = coldstart.measure(request, progress=self.progress)
        common: dict[str, Any] = {
            "versions": dict(result.versions), "config": dict(request.options),
            "higher_is_better": False}
        factory = isinstance(request.model, str)
        extra: dict[str, Any] = {
            "model": str(request.model) if factory else Path(request.model).name,
            "backend": request.backend,
            "processes": len(result.samples), "peak_reset": result.peak_reset,
            "import_s": [round(v, 4) for v in result.values("import_s")]}
        if factory:  # torch/IPEX: the factory's build, and what the size counts
            extra["build_s"] = [round(v, 4) for v in result.values("build_s")]
            extra["model_size"] = "parameter bytes of the built module"
        for metric, field, unit in coldstart.METRICS:
            values = result.values(field)
            if values:
                self.record(f"{prefix}{metric}", result.median(field), kind="cold", unit=unit,
                            samples=values, extra=extra, **common)
        self.record(f"{prefix}{coldstart.SIZE_METRIC}", result.model_size_mb, kind="info",
                    unit="MB", extra=extra, **common)
        return result

    # -- quality --------------------------------------------------------------------------

    def accuracy(self, compiled: CompiledModel, dataset: Any, *, metric: str = "accuracy",
                 batch_size: int | None = None, name: str = "") -> AccuracyResult:
        """Score ``compiled`` on a labelled dataset (untimed) and record ``[name/]<metric>``."""

        _check_compiled(compiled, "accuracy")
        prefix = self._prefix(name, True)
        if self.progress:
            self.progress(f"scoring {compiled.label} ({metric})")
        result = evaluate_accuracy(compiled, dataset, metric=metric, batch_size=batch_size)
        self.record(f"{prefix}{metric}", float(result.value), kind="accuracy",
                    versions=compiled.versions(), config=compiled.effective_config(),
                    extra={"count": result.count, "model": compiled.label})
        return result

    def agreement(self, candidate: CompiledModel, reference: CompiledModel, inputs: Any, *,
                  name: str = "agreement", batch_size: int | None = None) -> AgreementResult:
        """Compare an optimized model's outputs with a reference's on real inputs; records
        ``name/top1_agreement`` and ``name/cosine`` (gated against the baseline) and
        ``name/max_abs_diff``, ``name/mean_abs_diff`` (shown; gated by ``max_abs_diff=``)."""

        _check_compiled(candidate, "agreement")
        _check_compiled(reference, "agreement")
        prefix = self._prefix(name, True)
        result = agreement(candidate, reference, inputs, batch_size=batch_size)
        common: dict[str, Any] = {
            "versions": {**reference.versions(), **candidate.versions()},
            "extra": {"candidate": candidate.label, "reference": reference.label,
                      "count": result.count}}
        self.record(f"{prefix}top1_agreement", result.top1_agreement, kind="agreement",
                    **common)
        self.record(f"{prefix}cosine", result.cosine, kind="agreement", **common)
        # logit differences move with every library version: informational, ceilings only
        self.record(f"{prefix}max_abs_diff", result.max_abs_diff, kind="info",
                    higher_is_better=False, **common)
        self.record(f"{prefix}mean_abs_diff", result.mean_abs_diff, kind="info",
                    higher_is_better=False, **common)
        return result

    # -- raw records ----------------------------------------------------------------------

    def record(self, metric: str, value: float, *, kind: str = "accuracy", unit: str = "",
               samples: list[float] | None = None, higher_is_better: bool = True,
               config: Mapping[str, Any] | None = None, versions: Mapping[str, str] | None = None,
               kernels: Mapping[str, Any] | None = None,
               extra: Mapping[str, Any] | None = None,
               busy: float | None = None,
               contention: list[float] | None = None,
               reference: Mapping[str, Any] | None = None,
               artifact: Fingerprint | None = None) -> MetricRecord:
        """Record any figure as a metric of this test (kind: throughput, latency, accuracy,
        agreement)."""

        kinds = (*RELATIVE_KINDS, *ABSOLUTE_KINDS, *INFO_KINDS, *COLD_KINDS, *RATIO_KINDS)
        if kind not in kinds:
            raise CpuperfUsageError(f"kind must be one of {', '.join(kinds)}, got {kind!r}")
        if not is_metric_name(metric):
            raise CpuperfUsageError(
                f"metric name {metric!r} must be names of letters, digits, '_', '-', '.' "
                f"joined by '/' (no empty, '.' or '..' part), e.g. 'sparse/throughput'")
        value, samples = _number("value", value), [_number("samples", s) for s in samples or []]
        if any(r.metric == metric for r in self.records):
            raise CpuperfUsageError(
                f"metric {metric!r} was already recorded in this test; pass a distinct name=")
        if kind in SAMPLED_KINDS and not samples:
            raise CpuperfUsageError(f"a {kind} metric needs per-trial samples")
        record = MetricRecord(
            test_id=self.test_id, metric=metric, kind=kind, unit=unit, value=value,
            samples=samples, higher_is_better=higher_is_better,
            config=dict(config or {}), versions=dict(versions or {}),
            kernels=dict(kernels) if kernels else None, extra=dict(extra or {}), busy=busy,
            contention=list(contention or []),
            reference=dict(reference) if reference else None, artifact=artifact)
        self.records.append(record)
        return record

    def _prefix(self, name: str, record: bool) -> str:
        if not isinstance(name, str) or (name and not (_NAME.match(name)
                                                       and name not in (".", ".."))):
            raise CpuperfUsageError(
                f"name must be a short metric name (letters, digits, '_', '-', '.'), "
                f"got {name!r}")
        prefix = f"{name}/" if name else ""
        taken = {r.metric for r in self.records}
        if record and {f"{prefix}throughput", f"{prefix}latency_p90_ms"} & taken:
            raise CpuperfUsageError(
                f"this test already recorded a measurement named {name!r}; give each "
                f"measurement its own name=")
        return prefix

    def _record_measurement(self, prefix: str, m: Measurement,
                            compiled: CompiledModel | None = None, why_no_reference: str = "",
                            plan: Plan | None = None, baseline_run: Measurement | None = None
                            ) -> None:

        config = {k: v for k, v in m.config.items()}
        kernels = with_execution(m.kernels.to_dict(), config) if m.kernels else None
        profile = profile_of(compiled) if compiled is not None else None
        versions = dict(m.versions)
        self.record(f"{prefix}throughput", m.throughput, kind="throughput", unit="samples/s",
                    samples=list(m.throughputs), config=config, versions=versions,
                    kernels=kernels, busy=m.busy,
                    contention=list(m.contention),
                    reference={"id": m.reference_id, "samples": list(m.reference)}
                    if m.reference else None,
                    extra={
                        "label": m.label, "iterations": [t.iterations for t in m.trials],
                        "requests": m.requests, "batch_size": m.batch_size,
                        "backend": m.backend, "warmup_s": round(m.warmup_s, 2),
                        "warmup_steady": m.warmup_steady,
                        "contended_trials": m.contended_trials,
                        "repeated_trials": len(m.dropped),
                        "retry_spent_s": round(m.retry_spent_s, 2),
                        **({REFERENCE_NOTE_KEY: why_no_reference} if why_no_reference else {}),
                        **({PROFILE_KEY: profile} if profile else {}),
                        **_against(plan, baseline_run)},
                    artifact=plan.candidate if plan is not None else None)
        self.record(f"{prefix}latency_p90_ms", m.latency.p90, kind="latency", unit="ms",
                    higher_is_better=False, config=config, versions=versions, kernels=kernels,
                    busy=m.busy, extra={"p50": m.latency.p50, "p99": m.latency.p99,
                                        "mean": m.latency.mean, "count": m.latency.count,
                                        "p90_bound": m.latency.p90_bound,
                                        "p99_bound": m.latency.p99_bound})


def _against(plan: Plan | None, baseline_run: Measurement | None) -> dict[str, Any]:
    """A throughput record's ``extra`` for its verdict's basis: the baseline artifact's
    interleaved trials (same-moment), or why none ran."""
    if plan is None:
        return {}
    if baseline_run is not None and plan.baseline is not None:
        return {SAME_MOMENT_KEY: {
            "baseline": plan.baseline.sha256, "baseline_label": baseline_run.label,
            "baseline_value": baseline_run.throughput,
            "baseline_samples": list(baseline_run.throughputs),
            **({"note": plan.note} if plan.note else {})}}
    return {STORED_WHY_KEY: plan.why} if plan.why else {}
