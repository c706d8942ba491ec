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

from pytest_cpuperf.backends.onednn import kernels_note, named_isa, parse_onednn_verbose
from pytest_cpuperf.cli import main as cpuperf_main
from pytest_cpuperf.errors import CpuperfUsageError
from pytest_cpuperf.isa import CpuIsa, detect
from pytest_cpuperf.judge.kernels import gate, kernel_diff
from pytest_cpuperf.kernel_spec import check_kernel_spec
from pytest_cpuperf.knobs import check_marker_kwargs
from pytest_cpuperf.records.kernels import KernelReport
from pytest_cpuperf.records.profile import diff_text
from pytest_cpuperf.records.results import BaselineRecord, BaselineRun, MetricRecord, MetricResult
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
    _record(pytester, tiny_int8_ir, kernels=None)  # the profile, not the kernel gate
    result = pytester.runpytest(*FAST, "--cpuperf-profile")
    result.assert_outcomes(passed=1)
    # which layer types moved most depends on the machine's moment: the breakdown is there
    result.stdout.fnmatch_lines(["*where the time went (ms per inference, baseline -> now): "
                                 "* -> *; total * -> *"])


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


# Every machine class's dominant ISA is a value the rules accept ------------------------------

DATA = Path(__file__).parent / "data"
AVX2_INT8 = json.loads((DATA / "openvino-exec-types.json").read_text()
                       )["classes"]["avx2"]["runs"]["int8"]
AVX2_VERBOSE = (DATA / "onednn-verbose-zen3-avx2.txt").read_text()


def machine_class() -> str:
    """The class INT8 matmuls run on here: ``amx``, ``avx512`` or ``avx2``."""
    cpu = detect()
    return "amx" if cpu.has("amx_int8") else ("avx512" if cpu.has("avx512f") else "avx2")


def test_every_isa_a_report_can_name_is_a_valid_rule() -> None:
    for isa in KernelReport.ISAS:
        assert check_kernel_spec({"dominant_isa": isa}, "k") == {"dominant_isa": isa}
        assert check_kernel_spec({"dominant_isa": f"!={isa}"}, "k") == {
            "dominant_isa": f"!={isa}"}
    assert {"amx", "avx512", "avx2", "ref", "unknown", "none"} <= set(KernelReport.ISAS)


@pytest.mark.parametrize("value", ["jit", "gemm", "avx512_vnni", "!=jit"])
def test_an_isa_no_report_names_is_a_usage_error_naming_the_valid_ones(value: str) -> None:
    with pytest.raises(CpuperfUsageError) as caught:
        check_kernel_spec({"dominant_isa": value}, "kernels")
    message = str(caught.value)
    assert repr(value) in message
    assert all(isa in message for isa in KernelReport.ISAS), message


def _recorded_result(isa_rule: str) -> MetricResult:
    from pytest_cpuperf.backends.openvino import summarize_exec_types

    layers = [tuple(key.split(":", 1)) for key, n in AVX2_INT8.items() for _ in range(n)]
    avx2 = CpuIsa("AMD EPYC", 2, frozenset({"avx", "avx2", "fma", "sse4_1", "sse4_2"}))
    kernels = summarize_exec_types(layers, avx2).to_dict()  # type: ignore[arg-type]
    record = MetricRecord("t.py::t", "throughput", "throughput", "samples/s", 100.0,
                          [100.0, 101.0], kernels=kernels)
    return gate(MetricResult(record, Status.PASS, "figures", policy={}),
                {"dominant_isa": isa_rule})


def test_avx2_rule_holds_on_recorded_avx2_kernels() -> None:
    """On any machine: the exec types of an AVX2 machine (``jit_gemm_I8``) pass
    ``dominant_isa: avx2`` and fail ``avx512``, saying the ISA was inferred from the CPU."""
    assert _recorded_result("avx2").status is Status.PASS
    assert _recorded_result("!=ref").status is Status.PASS
    broken = _recorded_result("avx512")
    assert broken.status is Status.KERNEL_RULE
    assert ("kernel rule broken: dominant_isa is avx2, inferred from the CPU (avx2): 14 of 14 "
            "matmul kernels name no ISA") in broken.message
    assert "(rule dominant_isa == avx512)" in broken.message


def test_this_machines_class_passes_the_isa_rule(pytester: pytest.Pytester,
                                                 tiny_int8_ir: Path) -> None:
    """On every class: ``dominant_isa`` set to the machine's class passes; another fails
    naming the class (and the inference where the exec types name no ISA)."""
    _setup(pytester, tiny_int8_ir, kernels={"dominant_isa": machine_class()})
    pytester.runpytest(*FAST).assert_outcomes(passed=1)
    _setup(pytester, tiny_int8_ir, kernels={"dominant_isa": "ref"})
    result = pytester.runpytest(*FAST)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*[[]kernel rule[]]*kernel rule broken: dominant_isa is "
                                 f"{machine_class()}*(rule dominant_isa == ref)*"])


# oneDNN verbose (torch, IPEX) ----------------------------------------------------------------


@pytest.mark.parametrize(("impl", "isa"), [
    ("brg_matmul:avx10_1_512_amx", "amx"), ("brgemm:avx512_core_amx", "amx"),
    ("brg_matmul:avx512_core_amx_fp16", "amx"), ("brg_matmul:avx10_1_512", "avx512"),
    ("brg_matmul:avx10_2_512", "avx512"), ("brg_matmul:avx512_core_vnni", "avx512"),
    ("brgemm:avx512_core_bf16", "avx512"), ("jit:avx512_core", "avx512"),
    ("brg_matmul:avx2_vnni_2", "avx2"), ("brg_matmul:avx2", "avx2"), ("jit:avx2", "avx2"),
    ("jit:avx", "avx"), ("jit:sse41", "sse41"), ("ref:any", "ref"), ("gemm:jit", None),
    ("gemm:jit:f32", None), ("jit:uni", None), ("jit_direct_copy:uni", None),
])
def test_onednn_implementation_names(impl: str, isa: str | None) -> None:
    assert named_isa(impl) == isa


@pytest.mark.parametrize(("line", "isa"), [
    ("onednn_verbose,v1,info,cpu,isa:Intel AVX2", "avx2"),
    ("onednn_verbose,v1,info,cpu,isa:Intel AVX2 with Intel DL Boost", "avx2"),
    ("onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel AMX", "avx512"),
    ("onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel DL Boost and bfloat16 support",
     "avx512"),
    ("onednn_verbose,v1,info,cpu,isa:Intel AVX10.1/512 with float16, Intel DL Boost and "
     "bfloat16 support", "avx512"),
    ("onednn_verbose,v1,info,cpu,isa:Intel AVX", "avx"),
    ("onednn_verbose,v1,info,cpu,isa:Intel SSE4.1", "sse41"),
])
def test_unnamed_onednn_kernels_take_the_isa_onednn_reports(line: str, isa: str) -> None:
    """``gemm:jit`` names no ISA: it runs the widest vector ISA oneDNN says it dispatches to
    (its ``isa:`` line, which ONEDNN_MAX_CPU_ISA lowers), never AMX."""
    text = f"{line}\n" + "\n".join(
        row for row in AVX2_VERBOSE.splitlines() if "gemm:jit" in row)
    report = parse_onednn_verbose(text, CpuIsa("any", 2, frozenset({"avx2"})))
    assert report is not None and report.dominant_isa == isa
    assert report.isa_inferred.startswith(f"inferred from the CPU ({isa}, oneDNN: "), report


def test_recorded_avx2_verbose_names_avx2() -> None:
    """On any machine: oneDNN's output on an AVX2 machine (int8 ``gemm:jit``, fp32
    ``brg_matmul:avx2``) reads ``avx2``, the int8 one inferred."""
    report = parse_onednn_verbose(AVX2_VERBOSE)
    assert report is not None
    assert (report.matmul_layers, report.dominant_isa, report.amx_layers) == (2, "avx2", 0)
    assert report.exec_types["matmul:gemm:jit"] == 1
    assert report.exec_types["inner_product:brg_matmul:avx2"] == 1
    assert report.isa_inferred == ("inferred from the CPU (avx2, oneDNN: Intel AVX2): 1 of 2 "
                                   "matmul kernels name no ISA (matmul:gemm:jit x1)")
    assert "isa=avx2 (inferred from the CPU)" in kernels_note(report)
    without_isa_line = "\n".join(row for row in AVX2_VERBOSE.splitlines() if "isa:" not in row)
    avx512 = CpuIsa("AMD EPYC", 2, frozenset({"avx2", "avx512f", "avx512_vnni"}))
    report = parse_onednn_verbose(without_isa_line, avx512)
    assert report is not None and report.dominant_isa in ("avx2", "avx512")
    int8_only = "\n".join(row for row in without_isa_line.splitlines() if "brg_matmul" not in row)
    report = parse_onednn_verbose(int8_only, avx512)
    assert report is not None and report.dominant_isa == "avx512"
    assert report.isa_inferred.startswith("inferred from the CPU (avx512): 1 of 1 ")


def test_torch_int8_and_fp32_matmuls_name_the_machines_class() -> None:
    """Real oneDNN through torch: an int8 linear (``qlinear_pointwise``, what inductor's int8
    linears call) and an fp32 one, with verbose on; both name this machine's class."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch.ops.onednn, "qlinear_pointwise"):
        pytest.skip(f"torch {torch.__version__} has no onednn.qlinear_pointwise")
    from pytest_cpuperf.backends.onednn import capture_fd_stdout

    x, linear = torch.randn(64, 256), torch.nn.Linear(256, 256)
    scale, zero = torch.full((256,), 0.01), torch.zeros(256, dtype=torch.long)
    qx = torch.clamp(torch.round(x / 0.05) + 128, 0, 255).to(torch.uint8)
    qw = torch.clamp(torch.round(linear.weight.detach() / 0.01), -128, 127).to(torch.int8)
    with torch.no_grad():
        packed = torch.ops.onednn.qlinear_prepack(qw, x.shape)
        with capture_fd_stdout() as int8_box, torch.backends.mkldnn.verbose(
                torch.backends.mkldnn.VERBOSE_ON):
            torch.ops.onednn.qlinear_pointwise(qx, 0.05, 128, packed, scale, zero,
                                               linear.bias, 1.0, 0, torch.float32, "none", [],
                                               "")
        with capture_fd_stdout() as fp32_box, torch.backends.mkldnn.verbose(
                torch.backends.mkldnn.VERBOSE_ON):
            torch._C._nn.mkldnn_linear(x.to_mkldnn(), linear.weight.to_mkldnn(),
                                       linear.bias.to_mkldnn())
    int8, fp32 = parse_onednn_verbose(int8_box[0]), parse_onednn_verbose(fp32_box[0])
    assert int8 is not None and int8.matmul_layers >= 1, int8_box[0]
    assert int8.dominant_isa == machine_class(), int8
    assert fp32 is not None and fp32.matmul_layers >= 1, fp32_box[0]
    expected = {"avx512", "amx"} if detect().has("amx_int8") else {machine_class()}
    assert fp32.dominant_isa in expected, fp32
