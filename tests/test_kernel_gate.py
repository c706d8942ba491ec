"""The kernel mix as a gate (``kernels="same"`` and rules) and where the time went, through
real pytest runs on real OpenVINO models.

Each run reads its model and ``ov_compile`` keywords from ``setup.json``, so one test name can
be recorded in one configuration and judged in another, as a change would do it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_cpuperf.cli import main as cpuperf_main
from pytest_cpuperf.errors import CpuperfUsageError
from pytest_cpuperf.isa import detect
from pytest_cpuperf.judge.kernels import check_kernel_spec, gate, kernel_diff
from pytest_cpuperf.judge.results import BaselineRecord, BaselineRun, MetricRecord, MetricResult
from pytest_cpuperf.knobs import check_marker_kwargs
from pytest_cpuperf.measure.profile import diff_text
from pytest_cpuperf.status import Status
from pytest_cpuperf.store.baselines import baseline_path

GATED_TEST = """
import json
import pathlib

import pytest

SETUP = json.loads(pathlib.Path(__file__).with_name("setup.json").read_text())


@pytest.mark.cpuperf(kernels=SETUP["kernels"], tolerance=0.5, trials=2, trial_time=0.2,
                     warmup=0.1)
def test_model(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(SETUP["model"], **SETUP["options"]))
"""
FAST = ("--cpuperf", "-p", "no:randomly")


def _setup(pytester: pytest.Pytester, model: Path, kernels: Any = "same",
           **options: Any) -> None:
    pytester.makepyfile(test_gated=GATED_TEST)
    (pytester.path / "setup.json").write_text(json.dumps(
        {"model": str(model), "options": options, "kernels": kernels}))


def _record(pytester: pytest.Pytester, model: Path, **options: Any) -> None:
    _setup(pytester, model, **options)
    pytester.runpytest(*FAST, "--cpuperf-update").assert_outcomes(passed=1)


@pytest.fixture(scope="module")
def tiny_fp32_ir() -> Path:
    """The tiny BERT of ``tiny_int8_ir`` without quantization: another precision."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(), sparsity=0.0, int8=False)


@pytest.fixture(scope="module")
def topk_irs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four dense layers, and the same with one extra layer type (a TopK) at the end."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    paths = []
    for extra in (False, True):
        rng = np.random.default_rng(0)
        x = ops.parameter([4, 64, 256], np.float32, name="x")
        h = x
        for _ in range(4):
            weight = ops.constant(rng.standard_normal((256, 256)).astype(np.float32))
            h = ops.relu(ops.matmul(h, weight, False, False))
        if extra:
            h = ops.topk(h, 128, -1, "max", "value").output(0)
        path = tmp_path_factory.mktemp("topk") / f"model-{int(extra)}.xml"
        ov.save_model(ov.Model([h], [x], "dense"), path)
        paths.append(path)
    return paths[0], paths[1]


def test_same_config_passes_the_gate(pytester: pytest.Pytester, tiny_int8_ir: Path) -> None:
    """A/A: recorded and judged in one configuration, the kernel mix is the same."""
    _record(pytester, tiny_int8_ir, threads=2)
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(passed=1)
    assert "kernels changed" not in result.stdout.str()


def test_thread_count_change_fails_the_gate(pytester: pytest.Pytester,
                                            tiny_int8_ir: Path) -> None:
    """On any CPU: the same kernels on another thread count fail ``kernels="same"``."""
    _record(pytester, tiny_int8_ir, threads=2)
    _setup(pytester, tiny_int8_ir, threads=1)
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]kernels changed[]] throughput of test_gated.py::"
                                 "test_model: kernels changed since the baseline (*)*"
                                 "threads: 2 -> 1*"])


def test_precision_change_fails_the_gate(pytester: pytest.Pytester, tiny_int8_ir: Path,
                                         tiny_fp32_ir: Path) -> None:
    """On any CPU: an FP32 export where the INT8 one was recorded changes the FC kernels."""
    _record(pytester, tiny_int8_ir)
    _setup(pytester, tiny_fp32_ir)
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]kernels changed[]]*FullyConnected: *I8 -> *"])


@pytest.mark.requires_isa("amx_int8")
def test_sparse_decompression_off_fails_the_gate(pytester: pytest.Pytester,
                                                 tiny_sparse_int8_ir: Path) -> None:
    """On AMX: sparse kernels recorded, then the same model compiled without sparse_rate."""
    _record(pytester, tiny_sparse_int8_ir, sparse_rate=0.5)
    _setup(pytester, tiny_sparse_int8_ir)
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*[[]kernels changed[]]*FullyConnected: 12 brgemm_avx512_amx_sparse_I8 + 1 "
        "brgemm_avx512_amx_I8 -> 13 brgemm_avx512_amx_I8*"])


def test_rules_gate_without_a_baseline(pytester: pytest.Pytester, tiny_int8_ir: Path) -> None:
    _setup(pytester, tiny_int8_ir, kernels={"matmul_layers": ">=1", "dominant_isa": "!=ref"})
    pytester.runpytest(*FAST).assert_outcomes(passed=1)
    _setup(pytester, tiny_int8_ir, kernels={"sparse_layers": ">=50"})
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]kernel rule[]]*kernel rule broken: sparse_layers is 0 "
                                 "(rule sparse_layers >= 50)*"])


@pytest.mark.requires_isa("amx_int8")
def test_sparse_rules_hold_on_amx(pytester: pytest.Pytester, tiny_sparse_int8_ir: Path) -> None:
    _setup(pytester, tiny_sparse_int8_ir, sparse_rate=0.5,
           kernels={"sparse_layers": ">=12", "amx_layers": ">=1", "dominant_isa": "amx"})
    pytester.runpytest(*FAST).assert_outcomes(passed=1)


@pytest.mark.parametrize(("spec", "named"), [
    ("similar", "kernels=\"same\""),
    ({"sparse": ">=1"}, "unknown kernel key 'sparse'"),
    ({"sparse_layers": ">=x"}, "rule for 'sparse_layers'"),
    ({"dominant_isa": "fast"}, "rule for 'dominant_isa'"),
    ({}, "kernels=\"same\""),
])
def test_bad_kernel_spec_is_a_usage_error_before_measuring(
        pytester: pytest.Pytester, tiny_int8_ir: Path, spec: Any, named: str) -> None:
    _setup(pytester, tiny_int8_ir, kernels=spec)
    result = pytester.runpytest(*FAST)
    assert result.ret != 0
    assert named in result.stdout.str() + result.stderr.str()
    assert "throughput" not in result.stdout.str()
    with pytest.raises(CpuperfUsageError, match="kernels"):
        check_marker_kwargs({"kernels": spec}, "t.py::t")


def test_spec_spellings() -> None:
    assert check_kernel_spec("Same", "k") == "same"
    assert check_kernel_spec({"amx_layers": 1, "dominant_isa": "AMX"}, "k") == {
        "amx_layers": "1", "dominant_isa": "AMX"}


def test_diff_is_per_layer_type() -> None:
    before = {"exec_types": {"FullyConnected:brgemm_avx512_amx_sparse_I8": 55,
                             "MVN:jit_avx512_bf16": 5}, "threads": 4}
    after = {"exec_types": {"FullyConnected:brgemm_avx512_amx_I8": 55,
                            "MVN:jit_avx512_bf16": 5}, "threads": 4}
    assert kernel_diff(before, after) == [
        "FullyConnected: 55 brgemm_avx512_amx_sparse_I8 -> 55 brgemm_avx512_amx_I8"]
    assert kernel_diff(before, before) == []


def test_old_baseline_without_kernels_says_so(pytester: pytest.Pytester,
                                              tiny_int8_ir: Path) -> None:
    _record(pytester, tiny_int8_ir)
    path = baseline_path(pytester.path / ".cpuperf", detect())
    stored = json.loads(path.read_text())
    for metrics in stored["records"].values():
        for record in metrics.values():
            for run in record["runs"]:
                run.pop("kernels", None)
                run.pop("profile_ms", None)
    path.write_text(json.dumps(stored))
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*no kernel record in the baseline; run --cpuperf-update*"])
    pytester.runpytest(*FAST, "--cpuperf-strict").assert_outcomes(failed=1)


def test_kernel_failure_in_every_report_and_in_compare(
        pytester: pytest.Pytester, tiny_int8_ir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _setup(pytester, tiny_int8_ir, threads=2)
    pytester.runpytest(*FAST, "--cpuperf-update", "--cpuperf-report",
                       "old.json").assert_outcomes(passed=1)
    _setup(pytester, tiny_int8_ir, threads=1)
    reports = ["r.json", "r.md", "r.html"]
    pytester.runpytest(*FAST, *(a for r in reports for a in ("--cpuperf-report", r))
                       ).assert_outcomes(failed=1)
    for name in reports:
        text = (pytester.path / name).read_text()
        assert "kernels changed" in text and "threads: 2 -" in text, name
    data = json.loads((pytester.path / "r.json").read_text())
    statuses = {r["metric"]: r["status"] for r in data["results"]}
    assert statuses["throughput"] == "kernels changed"
    code = cpuperf_main(["compare", str(pytester.path / "old.json"),
                         str(pytester.path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1
    assert "kernels changed" in out and "threads: 2 -> 1" in out


def test_where_the_time_went_names_the_extra_layer(pytester: pytest.Pytester,
                                                   topk_irs: tuple[Path, Path]) -> None:
    """An injected regression (one extra layer type) is explained by that layer type."""
    plain, extra = topk_irs
    _record(pytester, plain, kernels=None)
    stored = json.loads(baseline_path(pytester.path / ".cpuperf", detect()).read_text())
    run = stored["records"]["test_gated.py::test_model"]["throughput"]["runs"][0]
    assert any(key.startswith("FullyConnected:") for key in run["profile_ms"])
    _setup(pytester, extra, kernels=None)
    result = pytester.runpytest(*FAST)
    # a regression, or inconclusive on a busy machine: explained either way
    result.stdout.fnmatch_lines(["*throughput of test_gated.py::test_model*where the time went "
                                 "(ms per inference, baseline -> now): TopK 0.000 -> *; - -> *"])


def test_profile_on_request(pytester: pytest.Pytester, tiny_int8_ir: Path) -> None:
    _record(pytester, tiny_int8_ir)
    result = pytester.runpytest(*FAST, "--cpuperf-profile")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*where the time went (ms per inference, baseline -> now): "
                                 "*FullyConnected*"])


def test_profile_diff_text() -> None:
    text = diff_text({"FullyConnected:a_I8": 1.0, "MVN:x": 0.2},
                     {"FullyConnected:b_I8": 1.5, "MVN:x": 0.2})
    assert text.startswith("where the time went (ms per inference, baseline -> now): "
                           "FullyConnected 1.000 -> 1.500 (+0.500; a_I8 -> b_I8)")


def _result(kernels: dict[str, Any] | None, baseline_kernels: dict[str, Any] | None,
            status: Status = Status.PASS) -> MetricResult:
    record = MetricRecord("t.py::t", "throughput", "throughput", "samples/s", 100.0,
                          [100.0, 101.0], kernels=kernels)
    stored = BaselineRecord("throughput", "samples/s", True, [BaselineRun(
        100.0, [100.0, 99.0], "2026-11-22", {}, kernels=baseline_kernels)])
    return MetricResult(record, status, "figures", baseline=stored, policy={})


MIX = {"exec_types": {"FullyConnected:brgemm_avx512_I8": 3}, "threads": 2}


def test_gate_paths_without_a_model() -> None:
    changed = gate(_result({**MIX, "threads": 1}, MIX), "same")
    assert changed.status is Status.KERNELS_CHANGED
    assert changed.message.endswith("threads: 2 -> 1. Throughput: figures")
    assert changed.policy == {"kernels": "same"}
    assert gate(_result(MIX, MIX), "same").status is Status.PASS
    other = gate(_result({**MIX, "threads": 1}, MIX), "same", other_machine=True)
    assert other.status is Status.PASS
    neither = gate(_result(None, None), "same")
    assert neither.status is Status.PASS and "recorded no kernels" in neither.message
    vanished = gate(_result(None, MIX), "same")
    assert vanished.status is Status.KERNELS_CHANGED
    assert "FullyConnected: 3 brgemm_avx512_I8 -> none" in vanished.message
    old = gate(_result(MIX, None, Status.REGRESSION), "same")
    assert old.status is Status.REGRESSION and "no kernel record in the baseline" in old.message
    rule = gate(_result(None, None), {"amx_layers": ">=1"})
    assert rule.status is Status.KERNEL_RULE and "amx_layers is not recorded" in rule.message
    assert gate(_result(MIX, MIX, Status.INVALID), "same").status is Status.INVALID


def test_profile_requested_without_one_says_so(pytester: pytest.Pytester) -> None:
    """A throughput without a per-layer profile (torch, IPEX, a recorded figure)."""
    pytester.makepyfile("""
        import pytest

        @pytest.mark.cpuperf
        def test_model(cpuperf):
            cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                           samples=[100.0, 101.0, 99.0])
    """)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    quiet = pytester.runpytest("--cpuperf")
    assert "per-layer" not in quiet.stdout.str()
    asked = pytester.runpytest("--cpuperf", "--cpuperf-profile")
    asked.assert_outcomes(passed=1)
    asked.stdout.fnmatch_lines(["PROFILE: *; no per-layer profile for this backend"])
