"""Cold-start and memory metrics in fresh processes, and latency bounds in reports, through
real pytest runs on the tiny BERT (measure/coldstart.py, judge/percentiles.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.errors import CpuperfUsageError
from pytest_cpuperf.isa import detect
from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.measure.coldstart import ColdStartError, check_request, measure
from pytest_cpuperf.records.results import BaselineRecord, MetricRecord
from pytest_cpuperf.status import Status
from pytest_cpuperf.store.baselines import baseline_path

COLD_TEST = """
import pathlib

import pytest

HERE = pathlib.Path(__file__).parent


@pytest.mark.cpuperf({marker})
def test_cold(cpuperf):
    result = cpuperf.cold_start((HERE / "model.txt").read_text(), repeats=2, threads=1)
    print(result.describe())
"""


def _cold(pytester: pytest.Pytester, model: Path | str, marker: str = "") -> None:
    pytester.makepyfile(test_cold=COLD_TEST.format(marker=marker))
    (pytester.path / "model.txt").write_text(str(model))


def test_cold_metrics_are_recorded_with_per_process_samples(
        pytester: pytest.Pytester, tiny_int8_ir: Path) -> None:
    _cold(pytester, tiny_int8_ir, "max_compile_s=600, max_peak_rss_mb=100000")
    result = pytester.runpytest("--cpuperf", "--cpuperf-update", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*(openvino, 2 fresh processes, median [[]min-max[]]): "
                                 "read+compile * s [[]*[]], first inference * ms*peak RSS*"])
    stored = json.loads(baseline_path(pytester.path / ".cpuperf", detect()).read_text())
    metrics = stored["records"]["test_cold.py::test_cold"]
    for name in ("compile_s", "first_inference_ms", "peak_rss_compile_mb",
                 "peak_rss_infer_mb"):
        record = metrics[f"cold/{name}"]
        assert record["kind"] == "cold" and record["higher_is_better"] is False
        assert len(record["runs"][0]["samples"]) == 2
    assert metrics["cold/peak_rss_compile_mb"]["runs"][0]["value"] > 20  # a real process
    assert metrics["cold/model_size_mb"]["kind"] == "info"


def test_exceeded_ceilings_fail_naming_metric_value_and_ceiling(
        pytester: pytest.Pytester, tiny_int8_ir: Path) -> None:
    _cold(pytester, tiny_int8_ir, "max_compile_s=0.001, max_peak_rss_mb=1")
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines_random([
        "*[[]above ceiling[]] cold/compile_s of test_cold.py::test_cold is *.* s, above the "
        "ceiling 0.001 s*",
        "*[[]above ceiling[]] cold/peak_rss_compile_mb of test_cold.py::test_cold is *.* MB, "
        "above the ceiling 1.0 MB*",
        "*[[]above ceiling[]] cold/peak_rss_infer_mb of test_cold.py::test_cold is *.* MB, "
        "above the ceiling 1.0 MB*",
    ])


def test_a_failing_process_names_the_model(pytester: pytest.Pytester) -> None:
    broken = pytester.path / "broken.xml"
    broken.write_text("<net name='x' version='11'><layers><layer id='0' type='Nope'/>")
    broken.with_suffix(".bin").write_bytes(b"\0" * 16)
    _cold(pytester, broken)
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*ColdStartError: cold start of model '*broken.xml' (openvino): fresh process 1 of 2 "
        "exited with code 1: *"])


def test_a_hung_process_is_stopped_naming_the_model(tiny_int8_ir: Path) -> None:
    request = check_request(tiny_int8_ir, repeats=2, timeout=0.01)
    with pytest.raises(ColdStartError, match=r"cold start of model '.*model\.xml' \(openvino\): "
                                             r"fresh process 1 of 2 took over 0\.01 s"):
        measure(request)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"repeats": 1}, r"cold_start\(repeats=\.\.\.\) must be an integer >= 2"),
    ({"backend": "tensorflow"}, r"cold_start\(backend=\.\.\.\) must be one of 'openvino', "
                                r"'onnxruntime', 'torch', 'ipex', got 'tensorflow'"),
    ({"backend": "torch"}, r"for backend 'torch' takes a factory, not \w*Path"),
    ({"timeout": 0}, r"cold_start\(timeout=\.\.\.\) must be a number of seconds > 0"),
    ({"options": {"streams": 0}}, r"streams must be an integer >= 1"),
    ({"backend": "onnxruntime"}, r"for backend 'onnxruntime' takes a \.onnx file"),
])
def test_bad_requests_are_usage_errors(tiny_int8_ir: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(CpuperfUsageError, match=message):
        check_request(tiny_int8_ir, **kwargs)


def test_missing_model_and_in_memory_model_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(CpuperfUsageError, match=r"model file '.*absent\.xml' does not exist"):
        check_request(tmp_path / "absent.xml")
    with pytest.raises(CpuperfUsageError, match=r"takes the path of a model file .* got dict"):
        check_request(lambda: {"not": "a path"})


def _cold_record(samples: list[float]) -> MetricRecord:
    return MetricRecord(test_id="t.py::test", metric="cold/compile_s", kind="cold", unit="s",
                        value=sorted(samples)[len(samples) // 2], samples=samples,
                        higher_is_better=False)


def test_cold_metrics_are_judged_lower_is_better_with_the_throughput_statistics() -> None:
    # trials tight enough for the interval to rule out a 5% rise (a pass needs that)
    baseline = BaselineRecord.from_record(_cold_record([1.00, 1.005, 0.995, 1.002, 0.998]))
    slower = evaluate(_cold_record([1.50, 1.52, 1.49, 1.51, 1.48]), baseline, Policy())
    assert slower.status is Status.REGRESSION and "95% CI" not in slower.message
    assert "regressed" in slower.message and "+50" in slower.message
    faster = evaluate(_cold_record([0.70, 0.71, 0.69, 0.70, 0.72]), baseline, Policy())
    assert faster.status is Status.IMPROVEMENT
    same = evaluate(_cold_record([1.002, 0.998, 1.00, 1.005, 0.995]), baseline, Policy())
    assert same.status is Status.PASS
    assert same.rules_out is not None and 0 < same.rules_out <= 0.05  # its high end: a rise
    assert same.ci is not None and same.rules_out == same.ci[1]


LATENCY_TEST = """
import pytest


@pytest.mark.cpuperf({marker})
def test_latency(ov_compile, cpuperf):
    compiled = ov_compile({model!r}, streams=1, threads=1, hint="latency")
    cpuperf.measure(compiled, trials=2, trial_time={trial_time}, warmup=0)
"""


def test_too_few_samples_for_p99_is_said_in_the_reports(
        pytester: pytest.Pytester, tiny_int8_ir: Path) -> None:
    pytester.makepyfile(test_lat=LATENCY_TEST.format(marker="", model=str(tiny_int8_ir),
                                                     trial_time=0.02))
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", "out.md")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / ".cpuperf-last.json").read_text()) \
        if (pytester.path / ".cpuperf-last.json").exists() else None
    markdown = (pytester.path / "out.md").read_text()
    assert "too few samples for p99" in markdown, markdown
    assert report is None or "too few samples for p99" in json.dumps(report)


def test_latency_ceiling_is_held_against_the_bound(pytester: pytest.Pytester,
                                                   tiny_int8_ir: Path) -> None:
    pytester.makepyfile(test_lat=LATENCY_TEST.format(
        marker="max_latency_ms=0.0001", model=str(tiny_int8_ir), trial_time=0.2))
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*[[]above ceiling[]] latency_p90_ms of test_lat.py::test_latency: its 99% upper bound "
        "* ms is above the ceiling 0.000 ms (max_latency_ms) (estimate * ms, * requests; the "
        "ceiling is held against the bound, not the estimate)*"])


@pytest.mark.parametrize(("backend", "options"), [
    ("openvino", {"shape": "[1,64]", "threads": 1}),
    ("onnxruntime", {"threads": 1}),
])
def test_onnx_cold_start_on_both_backends(backend: str, options: dict) -> None:
    pytest.importorskip(backend)
    from pytest_cpuperf.models import BertSpec, build_onnx

    result = measure(check_request(lambda: build_onnx(BertSpec.tiny()), backend=backend,
                                   repeats=2, options=options))
    assert len(result.samples) == 2 and result.request.label.endswith("model.onnx")
    assert all(s.compile_s > 0 and s.first_inference_ms > 0 for s in result.samples)
    assert result.model_size_mb > 0.1 and result.versions.get(backend)
    assert result.median("peak_rss_compile_mb") > result.samples[0].rss_import_mb


def test_a_killed_process_is_named_by_its_signal(tiny_int8_ir: Path) -> None:
    from pytest_cpuperf.measure.coldstart import _failure

    request = check_request(tiny_int8_ir, repeats=3)
    error = _failure(request, 1, -11, "Fatal Python error: Segmentation fault\n\n")
    assert str(error) == (f"cold start of model {str(tiny_int8_ir)!r} (openvino): fresh process "
                          f"2 of 3 was killed by SIGSEGV: Fatal Python error: Segmentation fault")
    assert "without an error message" in str(_failure(request, 0, -9, ""))


# --- PyTorch (the IPEX path: tests/test_ipex_backend.py, run by `tox -e ipex`) ------------


def tiny_torch_bert() -> Any:
    """The factory the fresh processes import from this module (tests/ on their sys.path)."""
    from pytest_cpuperf.models import BertSpec, build_torch_bert

    return build_torch_bert(BertSpec.tiny())


def _parameter_mb(module: Any) -> float:
    return sum(p.numel() * p.element_size() for p in module.parameters()) / (1024 * 1024)


TORCH_COLD_TEST = """
import pytest

from pytest_cpuperf.models import BertSpec


def tiny():
    from pytest_cpuperf.models import build_torch_bert

    return build_torch_bert(BertSpec.tiny())


@pytest.mark.cpuperf(max_compile_s=600, max_peak_rss_mb=100000)
def test_cold_torch(cpuperf):
    result = cpuperf.cold_start(tiny, backend="torch", repeats=2, mode="jit", threads=1)
    print(result.describe())
"""


@pytest.mark.slow
def test_torch_cold_start_builds_with_the_factory_and_times_prepare(
        pytester: pytest.Pytester) -> None:
    """A factory defined in the test module, imported by each fresh process from the test's
    directory; prepare = torch_optimize(mode="jit"), the size = the module's parameters."""
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("transformers is not installed")
    # nothing here imports transformers or torch: pytester drops the modules a test imported,
    # and a later test would load a second, incompatible copy of transformers' classes
    pytester.makepyfile(test_cold_torch=TORCH_COLD_TEST)
    result = pytester.runpytest_subprocess("--cpuperf", "--cpuperf-update", "-s",
                                           "--cpuperf-report", "cold.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*test_cold_torch:tiny (torch, 2 fresh processes, median [[]min-max[]]): prepare * s "
        "[[]*[]], first inference * ms*, parameters *.* MB (build * s [[]*[]], not counted)*"])
    stored = json.loads(baseline_path(pytester.path / ".cpuperf", detect()).read_text())
    metrics = stored["records"]["test_cold_torch.py::test_cold_torch"]
    compile_s = metrics["cold/compile_s"]
    assert len(compile_s["runs"][0]["samples"]) == 2 and compile_s["kind"] == "cold"
    assert compile_s["config"]["mode"] == "jit"
    assert metrics["cold/peak_rss_compile_mb"]["runs"][0]["value"] > 100  # torch is loaded
    report = json.loads((pytester.path / "cold.json").read_text())
    size = next(r["current"] for r in report["results"]
                if r["metric"] == "cold/model_size_mb")
    assert size["extra"]["model"] == "test_cold_torch:tiny"
    assert len(size["extra"]["build_s"]) == 2
    assert size["extra"]["model_size"] == "parameter bytes of the built module"
    assert 1.0 < size["value"] < 10.0  # tiny BERT's fp32 parameters (exact: the test below)


@pytest.mark.slow
def test_torch_cold_start_with_this_modules_function() -> None:
    pytest.importorskip("transformers")
    request = check_request(tiny_torch_bert, backend="torch", repeats=2,
                            options={"mode": "eager", "threads": 1})
    assert request.model == f"{__name__}:tiny_torch_bert"
    assert request.search_path == (str(Path(__file__).parent),)
    result = measure(request)
    assert all(s.build_s and s.compile_s > 0 and s.first_inference_ms > 0
               for s in result.samples)
    assert result.versions.get("torch") and result.versions.get("transformers")
    assert result.median("peak_rss_compile_mb") > result.samples[0].rss_import_mb
    assert result.model_size_mb == pytest.approx(_parameter_mb(tiny_torch_bert()), rel=1e-9)


@pytest.mark.parametrize(("model", "options", "message"), [
    (lambda: None, {}, r"'<lambda>' cannot be imported by a fresh process .*top level"),
    (42, {}, r"takes a factory, not int"),
    ("build_my_model", {}, r"takes a factory 'package\.module:function' .*got 'build_my_model'"),
    ("no_such_module_xyz:build", {},
     r"cold_start\(model='no_such_module_xyz:build'\): cannot import 'no_such_module_xyz' "
     r"\(ModuleNotFoundError"),
    (f"{__name__}:absent", {}, r"has no function 'absent'"),
    (tiny_torch_bert, {"streams": 2}, r"options for backend 'torch' are torch_optimize's "
                                      r"keywords \(mode, .*\), got streams"),
    (tiny_torch_bert, {"mode": "fast"}, r"^mode must be one of 'eager', 'jit', 'compile'"),
    (tiny_torch_bert, {"threads": 0}, r"^threads must be an integer >= 1"),
])
def test_bad_torch_requests_are_usage_errors(model: object, options: dict,
                                             message: str) -> None:
    with pytest.raises(CpuperfUsageError, match=message):
        check_request(model, backend="torch", options=options)


def test_torch_choices_match_the_backend() -> None:
    torch_backend = pytest.importorskip("pytest_cpuperf.backends.torch")
    from pytest_cpuperf.backends import registry

    assert registry.TORCH_MODES == torch_backend.MODES
    assert registry.TORCH_DTYPES == torch_backend.DTYPES
