"""Export in pytest-benchmark's saved-run format.

Read by ``pytest-benchmark compare FILE`` and by github-action-benchmark's ``pytest`` tool. One
benchmark per throughput metric; its times are seconds per sample (1 / throughput of each
trial), so pytest-benchmark's ``ops`` reads as samples per second: the harmonic mean of the
trials, where the cpuperf report shows samples over the trials' time (their time-weighted
mean, benchmark_app's definition). ``extra_info`` says which is which
(``value`` is the report's figure) and holds the other metrics of the same test.
"""

from __future__ import annotations

import json
import platform
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..backends.registry import recorded_backend
from ..records.results import RELATIVE_KINDS, MetricResult, RunReport, json_safe, sorted_results
from ..store.fileio import atomic_write_text

FALLBACK_VERSION = "5.1.0"
"""pytest-benchmark format version claimed when pytest-benchmark is not installed."""


def _quartiles(data: list[float]) -> tuple[float, float]:
    """Q1 and Q3 the way pytest-benchmark computes them (methods 2 and 3)."""
    n = len(data)
    if n == 1:
        return data[0], data[0]
    if n % 2 == 0:
        return statistics.median(data[: n // 2]), statistics.median(data[n // 2:])
    k, q = n // 4, n % 4
    if q == 1:
        return (0.25 * data[k - 1] + 0.75 * data[k], 0.75 * data[3 * k] + 0.25 * data[3 * k + 1])
    return (0.75 * data[k] + 0.25 * data[k + 1], 0.25 * data[3 * k + 1] + 0.75 * data[3 * k + 2])


def _fallback_stats(times: Sequence[float]) -> dict[str, Any]:
    """The fields of ``pytest_benchmark.stats.Stats.as_dict()`` without pytest-benchmark."""
    data = sorted(times)
    mean = statistics.mean(data)
    stddev = statistics.stdev(data) if len(data) > 1 else 0
    q1, q3 = _quartiles(data)
    iqr = q3 - q1
    sd_out = sum(not (mean - stddev <= v <= mean + stddev) for v in data)
    iqr_out = sum(not (q1 - 1.5 * iqr <= v <= q3 + 1.5 * iqr) for v in data)
    single = len(data) == 1
    total = sum(data)
    return {
        "min": data[0], "max": data[-1], "mean": mean, "stddev": stddev, "rounds": len(data),
        "median": statistics.median(data), "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_out, "stddev_outliers": sd_out, "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": data[0] if single else data[bisect_left(data, q1 - 1.5 * iqr)],
        "hd15iqr": data[0] if single else data[bisect_right(data, q3 + 1.5 * iqr) - 1],
        "ops": len(data) / total if total else 0, "total": total,
    }


def benchmark_stats(times: Sequence[float]) -> dict[str, Any]:
    """pytest-benchmark's ``stats`` block (with ``data`` and ``iterations``) for ``times``."""
    try:
        from pytest_benchmark.stats import Stats
    except ImportError:
        stats = _fallback_stats(times)
    else:
        collected = Stats()
        for t in times:
            collected.update(t)
        stats = collected.as_dict()
    return {**stats, "data": list(times), "iterations": 1}


def _times(result: MetricResult) -> list[float]:
    """Seconds per sample of each trial (the value alone when there are no trial samples)."""
    samples = [s for s in result.record.samples if s > 0]
    if not samples and result.record.value > 0:
        samples = [result.record.value]
    return [1.0 / s for s in samples]


OPS_NOTE = ("stats.ops is the harmonic mean of the trials' throughput (pytest-benchmark's "
            "rounds / total time); value is the cpuperf report's figure, samples over the trials' "
            "time (benchmark_app's throughput)")


def _metric_info(result: MetricResult) -> dict[str, Any]:
    return {"value": result.record.value, "unit": result.record.unit,
            "status": result.status.value, "change": result.change,
            "baseline": result.baseline.value if result.baseline else None}


def _entry(result: MetricResult, others: dict[str, Any]) -> dict[str, Any]:
    test_id, metric = result.test_id, result.metric
    short = test_id.rsplit("::", 1)[-1]
    param = short.partition("[")[2].rstrip("]") or None
    return {
        "group": metric, "name": f"{short}::{metric}", "fullname": f"{test_id}::{metric}",
        "params": {"cpuperf": param} if param else None, "param": param,
        "extra_info": {**_metric_info(result), "value_is": "samples over the trials' time",
                       "ops_note": OPS_NOTE, "backend": _backend(result),
                       "config": result.record.config, "metrics": others},
        "options": {"timer": "pytest-cpuperf trials", "min_rounds": len(_times(result)),
                    "warmup": False, "disable_gc": False},
        "stats": benchmark_stats(_times(result)),
    }


def _backend(result: MetricResult) -> str:
    """The backend that ran, from the config and versions recorded (registry.py)."""
    return recorded_backend(result.record.config, result.record.versions)


def _machine_info(run: RunReport) -> dict[str, Any]:
    machine = run.machine
    return {
        "node": "", "processor": platform.processor(), "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(), "python_build": platform.python_build(),
        "release": platform.release(), "system": platform.system(),
        "cpu": {"brand_raw": machine.get("cpu", ""), "count": machine.get("cores"),
                "flags": list(machine.get("flags", []))},
        "cpuperf": machine,
    }


def _commit_info() -> dict[str, Any]:
    try:
        from pytest_benchmark.utils import get_commit_info
    except ImportError:
        return {"id": "unknown", "time": None, "author_time": None, "dirty": False,
                "project": "", "branch": "(unknown)"}
    return dict(get_commit_info())


def _version() -> str:
    try:
        from pytest_benchmark import __version__
    except ImportError:
        return FALLBACK_VERSION
    return str(__version__)


def to_pytest_benchmark(run: RunReport) -> dict[str, Any]:
    """``run`` as a pytest-benchmark saved run (machine_info, commit_info, benchmarks...)."""
    results = sorted_results(run.results)
    per_test: dict[str, dict[str, Any]] = {}
    for r in results:
        if r.record.kind not in RELATIVE_KINDS:
            per_test.setdefault(r.test_id, {})[r.metric] = _metric_info(r)
    timed = [r for r in results if r.record.kind in RELATIVE_KINDS and _times(r)]
    benchmarks = [_entry(r, per_test.get(r.test_id, {})) for r in timed]
    exported = {r.test_id for r in timed}
    return {
        "machine_info": _machine_info(run), "commit_info": _commit_info(),
        "benchmarks": benchmarks, "datetime": run.created, "version": _version(),
        "cpuperf_other_metrics": {t: m for t, m in per_test.items() if t not in exported},
    }


def to_benchmark_text(run: RunReport) -> str:
    """:func:`to_pytest_benchmark` as JSON text (the ``pytest-benchmark`` renderer)."""
    return json.dumps(json_safe(to_pytest_benchmark(run)), indent=4, allow_nan=False) + "\n"


def write_pytest_benchmark(path: Path, run: RunReport) -> None:
    """Write :func:`to_pytest_benchmark` to ``path`` atomically."""
    atomic_write_text(Path(path), to_benchmark_text(run))
