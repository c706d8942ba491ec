"""``cpuperf compare``: every metric of one run judged against another run or a baseline file.

A side is a report JSON (``--cpuperf-report``) or a baseline file (or its directory); each
metric is judged with the policy the newer run stored for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from . import isa
from .errors import CliError
from .judge.evaluate import Policy, evaluate
from .judge.kernels import gate as kernel_gate
from .records.profile import explain
from .records.results import REPORT_SCHEMA, BaselineRecord, MetricRecord, RunReport
from .report.json_report import read_report
from .store import baselines as store

Source = RunReport | store.BaselineFile
"""One side of a comparison: a run's report or a baseline file."""


def _baseline_in(directory: Path) -> Path:
    """The baseline file of a directory: its only one, else this machine's."""
    files = sorted(directory.glob("*.json"))
    if len(files) == 1:
        return files[0]
    path = store.baseline_path(directory, isa.detect())
    if path.exists():
        return path
    names = ", ".join(f.name for f in files) or "none"
    raise CliError(f"{directory} holds no baseline file for this machine ({path.name}); "
                   f"name one of its files instead (found: {names})")


def load_source(path: Path) -> Source:
    """A report JSON or a baseline file (or a baseline directory), read from ``path``."""
    if path.is_dir():
        path = _baseline_in(path)
    if not path.is_file():
        raise CliError(f"{path}: no such file or directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CliError(f"{path} could not be read as JSON ({exc})") from exc
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema == REPORT_SCHEMA:
        return read_report(path)
    if schema == store.SCHEMA:
        return store.load(path)
    raise CliError(f"{path} is neither a pytest-cpuperf report (--cpuperf-report FILE.json) "
                   f"nor a baseline file (.cpuperf/<machine>.json)")


def latest_record(test_id: str, metric: str, baseline: BaselineRecord) -> MetricRecord:
    """The latest recorded run of a baseline, as a measured record."""
    run = baseline.latest
    return MetricRecord(test_id=test_id, metric=metric, kind=baseline.kind, unit=baseline.unit,
                        value=run.value, samples=list(run.samples),
                        higher_is_better=baseline.higher_is_better, config=dict(baseline.config),
                        versions=dict(run.versions), date=run.date, busy=run.busy,
                        contention=list(run.contention), kernels=run.kernels,
                        extra={"profile_ms": run.profile} if run.profile else {})


def records_of(source: Source) -> dict[tuple[str, str], MetricRecord]:
    if isinstance(source, RunReport):
        return {r.record.key: r.record for r in source.results}
    return {(test, metric): latest_record(test, metric, rec)
            for test, metrics in source.records.items() for metric, rec in metrics.items()}


def baselines_of(source: Source) -> dict[tuple[str, str], BaselineRecord]:
    if isinstance(source, RunReport):
        return {r.record.key: BaselineRecord.from_record(r.record) for r in source.results}
    return {(test, metric): rec
            for test, metrics in source.records.items() for metric, rec in metrics.items()}


def compare_sources(old: Source, new: Source,
                    overrides: Mapping[str, float] | None = None) -> RunReport:
    """Every metric of ``new`` evaluated against ``old`` (no baseline when ``old`` lacks it).

    Each metric is judged with the policy it was judged with when ``new`` was recorded (a
    report stores it per metric), so the verdicts are the gate's; ``overrides`` (judging knobs
    given on the command line) replace those values. Metrics without a stored policy (a
    baseline file, an old report) are judged at the defaults.
    """
    baselines = baselines_of(old)
    results = []
    for key, rec in sorted(records_of(new).items()):
        policy = replace(policy_of(new, key), **dict(overrides or {}))
        result = evaluate(rec, baselines.get(key), policy)
        results.append(explain(kernel_gate(result, kernel_spec_of(new, key)), False))
    versions = dict(new.versions) if isinstance(new, RunReport) else {}
    return RunReport(machine=dict(new.machine), results=results, versions=versions)


def policy_of(source: Source, key: tuple[str, str]) -> Policy:
    """The policy ``source`` judged ``key`` with (defaults when it does not say)."""
    if isinstance(source, RunReport):
        for result in source.results:
            if result.record.key == key and result.policy:
                return Policy.from_dict(result.policy)
    return Policy()


def kernel_spec_of(source: Source, key: tuple[str, str]) -> object:
    """The kernel gate ``source`` judged ``key`` with (None: none)."""
    if isinstance(source, RunReport):
        for result in source.results:
            if result.record.key == key and result.policy:
                return result.policy.get("kernels")
    return None
