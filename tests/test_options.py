"""The effect of every option, through real pytest runs.

Each knob of :data:`pytest_cpuperf.knobs.KNOBS` is set three ways (``--cpuperf-NAME``, the
``cpuperf_NAME`` ini twin, ``@pytest.mark.cpuperf(NAME=...)`` over the command line) and must
change the outcome: judging knobs flip a verdict on figures fed through ``cpuperf.record``
(``inconclusive`` flips whether an inconclusive verdict fails its test), engine knobs change a
real measurement of the tiny INT8 model. A knob without a case here fails
:func:`test_every_knob_has_an_effect_case`.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.knobs import ENGINE, KNOBS, THRESHOLDS, Knob, Threshold
from pytest_cpuperf.report.json_report import read_report

TIGHT = [100.0, 100.2, 99.8, 100.1, 99.9]


def scaled(factor: float) -> list[float]:
    return [v * factor for v in TIGHT]


# --- judging knobs: recorded figures, a baseline, then a verdict ----------------------------

RECORDING_TEST = """
import json
import pathlib

import pytest

FIGURE = json.loads(pathlib.Path(__file__).with_name("figure.json").read_text())


@pytest.mark.cpuperf({marker})
def test_perf(cpuperf):
    cpuperf.record(**FIGURE)
"""


@dataclass(frozen=True)
class JudgeCase:
    """Baseline and current figures, and the verdict at a low and at a high knob value."""

    baseline: dict[str, Any]
    current: dict[str, Any]
    low: float | str
    low_status: str
    high: float | str
    high_status: str


def throughput(samples: list[float], busy: float | None = None) -> dict[str, Any]:
    return {"metric": "throughput", "value": statistics.median(samples), "kind": "throughput",
            "unit": "samples/s", "samples": samples, "busy": busy}


def accuracy(value: float) -> dict[str, Any]:
    return {"metric": "accuracy", "value": value, "kind": "accuracy"}


JUDGE_CASES: dict[str, JudgeCase] = {
    # -8%: beyond 5%, within 15% and its 90% CI (-12%) too
    "tolerance": JudgeCase(throughput(TIGHT), throughput(scaled(0.92)),
                           0.05, "regression", 0.15, "pass"),
    # -8% is significant with 2.8% assumed noise, not with 14%
    "noise_floor": JudgeCase(throughput(TIGHT), throughput(scaled(0.92)),
                             0.02, "regression", 0.10, "inconclusive"),
    # -6% with 2.8% assumed noise: p ~ 0.015
    "alpha": JudgeCase(throughput(TIGHT), throughput(scaled(0.94)),
                       0.05, "regression", 0.01, "inconclusive"),
    # -8% while other work took 30% of the CPU: explained by contention unless 30% is allowed
    "max_busy": JudgeCase(throughput(TIGHT), throughput(scaled(0.92), busy=0.30),
                          0.15, "inconclusive", 0.50, "regression"),
    # one point lost
    "accuracy_tolerance": JudgeCase(accuracy(0.90), accuracy(0.89),
                                    0.005, "regression", 0.02, "pass"),
    # -2%: within 5%, but its 90% CI reaches -6.5%: inconclusive, which fails the test or not
    "inconclusive": JudgeCase(throughput(TIGHT), throughput(scaled(0.98)),
                              "warn", "inconclusive", "fail", "inconclusive, test failed"),
}


def _write_recording_test(pytester: pytest.Pytester, marker: dict[str, Any]) -> None:
    keywords = ", ".join(f"{k}={v!r}" for k, v in marker.items())
    pytester.makepyfile(test_perf=RECORDING_TEST.format(marker=keywords))


def _figure(pytester: pytest.Pytester, figure: dict[str, Any]) -> None:
    (pytester.path / "figure.json").write_text(json.dumps(figure))


def judge_status(pytester: pytest.Pytester, case: JudgeCase, args: list[str],
                 marker: dict[str, Any] | None = None) -> str:
    """The verdict of the current figure against a baseline recorded once, at the defaults."""
    shutil.rmtree(pytester.path / ".cpuperf", ignore_errors=True)
    _write_recording_test(pytester, marker or {})
    _figure(pytester, case.baseline)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    _figure(pytester, case.current)
    report = pytester.path / "out" / "report.json"
    result = pytester.runpytest("--cpuperf", f"--cpuperf-report={report}", *args)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()
    (metric,) = read_report(report).results
    if metric.status.value == "regression":
        assert result.ret == pytest.ExitCode.TESTS_FAILED
        return metric.status.value
    failed = result.ret == pytest.ExitCode.TESTS_FAILED
    return metric.status.value + (", test failed" if failed else "")


# --- engine knobs: a real measurement of the tiny INT8 model --------------------------------

MEASURING_TEST = """
import json
import pathlib

import pytest

MODEL = {model!r}


@pytest.mark.cpuperf({marker})
def test_measure(cpuperf, ov_compile):
    compiled = ov_compile(MODEL, streams=1, threads=1)
    m = cpuperf.measure(compiled)
    ref = cpuperf.measure(compiled, trials=2, trial_time={ref_trial_time!r}, warmup=0,
                          record=False)
    pathlib.Path(__file__).with_name("measured.json").write_text(json.dumps({{
        "samples": len(m.throughputs), "iterations": [t.iterations for t in m.trials],
        "durations": [t.duration_s for t in m.trials],
        "ref_durations": [t.duration_s for t in ref.trials],
        "warmup_s": m.warmup_s, "warmup_max_s": m.warmup_max_s,
        "retry_budget_s": m.retry_budget_s,
        "ref_iterations": [t.iterations for t in ref.trials],
        "reference": len(m.reference), "reference_id": m.reference_id}}))
"""
REF_TRIAL_TIME = 0.05
FAST = {"trials": 2, "trial_time": REF_TRIAL_TIME, "warmup": 0.0}
"""The engine knobs not under test, kept short."""


def _trial_time_effect(measured: dict[str, Any], value: float) -> None:
    """Trials last the trial time: their mean duration is x(value / reference) within a factor
    3; the default trial time (1 s) would read x20. Durations, not request counts: a neighbour
    that takes the CPU during one trial and not the other shrinks its count, not its length."""
    expected = value / REF_TRIAL_TIME
    ratio = statistics.mean(measured["durations"]) / statistics.mean(measured["ref_durations"])
    assert expected / 3 <= ratio <= expected * 3, measured


@dataclass(frozen=True)
class EngineCase:
    low: float
    high: float
    effect: Callable[[dict[str, Any], float], None] = field(repr=False)


def _warmup_effect(measured: dict[str, Any], value: float) -> None:
    """The warm-up lasts at least ``value`` (until the rate is steady); 0 is one first
    inference only (the default, 0.5 s, would read >= 0.5)."""
    if value:
        assert measured["warmup_s"] >= value, measured
    else:
        assert measured["warmup_s"] < 0.25, measured


ENGINE_CASES: dict[str, EngineCase] = {
    "trials": EngineCase(2, 3, lambda m, v: _assert_equal(m["samples"], v, m)),
    "trial_time": EngineCase(0.05, 0.2, _trial_time_effect),
    "warmup": EngineCase(0.0, 0.15, _warmup_effect),
    # the cap the warm-up ran under (its behaviour at the cap: tests/test_engine.py)
    "warmup_max": EngineCase(0.5, 2.0, lambda m, v: _assert_equal(m["warmup_max_s"], v, m)),
    # the repeat budget: value x trials x trial_time seconds (its use: tests/test_busy.py)
    # (a same-run reference trial, half a trial long, brings half a trial's budget)
    "retry_budget": EngineCase(0.0, 1.0, lambda m, v: _assert_equal(
        m["retry_budget_s"], v * FAST["trials"] * REF_TRIAL_TIME * (1.5 if m["reference"] else 1),
        m)),
    # a same-run reference rate per trial, or none (on by default, so "high" is off; its
    # judging: tests/test_reference.py)
    "reference": EngineCase(1.0, 0.0, lambda m, v: _assert_equal(
        m["reference"], FAST["trials"] if v else 0, m)),
}


def _assert_equal(actual: float, expected: float, measured: dict[str, Any]) -> None:
    assert actual == pytest.approx(expected), measured


def engine_measurement(pytester: pytest.Pytester, model: Path, knob: Knob, args: list[str],
                       marker: dict[str, float] | None = None) -> dict[str, Any]:
    """What the inner test measured with ``args``; the other engine knobs are kept short (the
    same-run reference's model is built up front by tests/conftest.py)."""
    pytester.makepyfile(test_measure=MEASURING_TEST.format(
        model=str(model), ref_trial_time=REF_TRIAL_TIME,
        marker=", ".join(f"{k}={v!r}" for k, v in (marker or {}).items())))
    fast = [f"{BY_OPTION[name].option}={value}" for name, value in FAST.items()
            if name != knob.name]
    result = pytester.runpytest("--cpuperf", *fast, *args)
    result.assert_outcomes(passed=1)
    measured: dict[str, Any] = json.loads((pytester.path / "measured.json").read_text())
    return measured


BY_OPTION = {k.name: k for k in KNOBS}


# --- one test per way of setting a knob ------------------------------------------------------

def test_every_knob_has_an_effect_case() -> None:
    assert set(JUDGE_CASES) | set(ENGINE_CASES) == {k.name for k in KNOBS}
    assert not set(JUDGE_CASES) & set(ENGINE_CASES)
    assert set(ENGINE_CASES) == {k.name for k in KNOBS if k.scope == ENGINE}


def _cases(knobs: tuple[Knob, ...]) -> list[Any]:
    return [pytest.param(k, id=k.name) for k in knobs]


def _text(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def _value_arg(knob: Knob, value: float | str) -> str:
    return f"{knob.option}={_text(value)}"


def _check_engine(knob: Knob, measured: dict[str, Any], value: float) -> None:
    ENGINE_CASES[knob.name].effect(measured, value)


@pytest.mark.parametrize("knob", _cases(KNOBS))
def test_option_changes_the_outcome(pytester: pytest.Pytester, knob: Knob,
                                    tiny_int8_ir: Path) -> None:
    """``--cpuperf-NAME`` at its low and its high value: two different outcomes."""
    if knob.name in JUDGE_CASES:
        case = JUDGE_CASES[knob.name]
        assert case.low_status != case.high_status
        assert judge_status(pytester, case, [_value_arg(knob, case.low)]) == case.low_status
        assert judge_status(pytester, case, [_value_arg(knob, case.high)]) == case.high_status
        return
    engine = ENGINE_CASES[knob.name]
    for value in (engine.low, engine.high):
        measured = engine_measurement(pytester, tiny_int8_ir, knob, [_value_arg(knob, value)])
        _check_engine(knob, measured, value)


@pytest.mark.parametrize("knob", _cases(KNOBS))
def test_ini_twin_changes_the_outcome(pytester: pytest.Pytester, knob: Knob,
                                      tiny_int8_ir: Path) -> None:
    """``cpuperf_NAME`` in the ini file at a value other than the default takes effect."""
    high = (JUDGE_CASES[knob.name].high if knob.name in JUDGE_CASES
            else ENGINE_CASES[knob.name].high)
    assert high != knob.default
    pytester.makeini(f"[pytest]\n{knob.ini} = {_text(high)}\n")
    if knob.name in JUDGE_CASES:
        assert judge_status(pytester, JUDGE_CASES[knob.name], []) == JUDGE_CASES[
            knob.name].high_status
    else:
        _check_engine(knob, engine_measurement(pytester, tiny_int8_ir, knob, []), high)


@pytest.mark.parametrize("knob", _cases(KNOBS))
def test_marker_beats_the_command_line(pytester: pytest.Pytester, knob: Knob,
                                       tiny_int8_ir: Path) -> None:
    """``@pytest.mark.cpuperf(NAME=high)`` wins over ``--cpuperf-NAME=low``."""
    if knob.name in JUDGE_CASES:
        case = JUDGE_CASES[knob.name]
        status = judge_status(pytester, case, [_value_arg(knob, case.low)],
                              marker={knob.name: case.high})
        assert status == case.high_status
        return
    engine = ENGINE_CASES[knob.name]
    measured = engine_measurement(pytester, tiny_int8_ir, knob, [_value_arg(knob, engine.low)],
                                  marker={knob.name: knob.kind(engine.high)})
    _check_engine(knob, measured, engine.high)


# --- thresholds: marker keywords with no command-line twin -----------------------------------

THRESHOLD_KINDS = {"throughput": "throughput", "latency": "latency", "accuracy": "accuracy",
                   "top1_agreement": "agreement", "max_abs_diff": "info", "cosine": "agreement",
                   "compile_s": "cold", "first_inference_ms": "cold",
                   "peak_rss_compile_mb": "cold", "model_size_mb": "info", "speedup": "speedup"}
"""The kind of metric each threshold target is recorded as."""


@pytest.mark.parametrize("threshold", [pytest.param(t, id=t.keyword) for t in THRESHOLDS])
def test_threshold_keyword_fails_only_beyond_its_limit(pytester: pytest.Pytester,
                                                       threshold: Threshold) -> None:
    """A figure of 0.5 against a limit of 0.4 and 0.6: fails on the wrong side only."""
    kind = THRESHOLD_KINDS[threshold.target]
    figure = {"metric": f"m/{threshold.target}", "value": 0.5, "kind": kind,
              "samples": [0.5, 0.5, 0.5] if kind in ("throughput", "cold") else None}
    _figure(pytester, figure)
    failing, passing = (0.6, 0.4) if threshold.side == "floor" else (0.4, 0.6)
    for limit, outcome in ((failing, {"failed": 1}), (passing, {"passed": 1})):
        _write_recording_test(pytester, {threshold.keyword: limit})
        result = pytester.runpytest("--cpuperf")
        result.assert_outcomes(**outcome)
    _write_recording_test(pytester, {threshold.keyword: failing})
    pytester.runpytest("--cpuperf").stdout.fnmatch_lines(
        [f"*[[]{'below floor' if threshold.side == 'floor' else 'above ceiling'}[]]*"])


# --- --cpuperf-benchmark-json ----------------------------------------------------------------

def test_benchmark_json_option_writes_what_pytest_benchmark_reads(
        pytester: pytest.Pytester, console_script: Callable[[str], str]) -> None:
    _write_recording_test(pytester, {})
    _figure(pytester, throughput(TIGHT))
    pytester.runpytest("--cpuperf").assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("bench.json"))
    path = pytester.path / "out" / "bench.json"
    pytester.runpytest("--cpuperf", f"--cpuperf-benchmark-json={path}").assert_outcomes(
        passed=1)
    data = json.loads(path.read_text())
    (bench,) = data["benchmarks"]
    assert bench["fullname"] == "test_perf.py::test_perf::throughput"
    assert bench["stats"]["ops"] == pytest.approx(statistics.harmonic_mean(TIGHT))
    proc = subprocess.run([console_script("pytest-benchmark"), "compare", str(path)],
                          cwd=pytester.path, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Failed to load" not in proc.stdout + proc.stderr
    assert "test_perf::throughput" in proc.stdout


def _out_of_range(knob: Knob) -> float:
    return knob.high + 1 if knob.high != float("inf") else knob.low - 1


@pytest.mark.parametrize("knob", _cases(KNOBS))
def test_marker_value_out_of_range_is_a_usage_error(pytester: pytest.Pytester,
                                                    knob: Knob) -> None:
    """Checked before anything is measured, naming the keyword."""
    _write_recording_test(pytester, {knob.name: _out_of_range(knob)})
    _figure(pytester, throughput(TIGHT))
    result = pytester.runpytest("--cpuperf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"@pytest.mark.cpuperf({knob.name}=...)" in result.stdout.str() + result.stderr.str()
