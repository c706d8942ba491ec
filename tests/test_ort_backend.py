"""ONNX Runtime backend: keyword errors before any import, a real session on the tiny BERT,
agreement with torch eager and OpenVINO, the fixture through real pytest runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_cpuperf.backends.onnxruntime import (
    check_options,
    compile_model,
    ort_status,
    summarize_profile,
)
from pytest_cpuperf.errors import CpuperfUsageError

# pytester's in-process runs cannot load an extension module twice: import it once up front
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def tiny_onnx() -> Path:
    """The tiny BERT (2 layers, hidden 128) exported to ONNX, dynamic batch and sequence."""
    from pytest_cpuperf.models import BertSpec, build_onnx

    return build_onnx(BertSpec.tiny())


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"threads": 0}, "threads"),
    ({"threads": "2"}, "threads"),
    ({"threads": True}, "threads"),
    ({"inter_op_threads": -1}, "inter_op_threads"),
    ({"graph_optimization": "max"}, "graph_optimization"),
    ({"graph_optimization": 99}, "graph_optimization"),
    ({"execution_mode": "async"}, "execution_mode"),
    ({"providers": ["CUDAExecutionProvider"]}, "providers"),
    ({"providers": "CPUExecutionProvider"}, "providers"),
    ({"shape": "input_ids(1,64)"}, "shape"),
    ({"shape": {"input_ids": [1, "?"]}}, "shape"),
    ({"shape": "[1,?]"}, "shape"),
    ({"label": 3}, "label"),
    ({"session_options": ["enable_profiling"]}, "session_options"),
    ({"session_options": {"enable_cpu_mem_arena": [False]}}, "session_options"),
])
def test_bad_keywords_name_the_parameter(kwargs: dict, name: str) -> None:
    with pytest.raises(CpuperfUsageError, match=name):
        check_options(**kwargs)


def test_keyword_checks_never_import_onnxruntime() -> None:
    code = ("import sys\nfrom pytest_cpuperf.backends.onnxruntime import check_options\n"
            "try:\n    check_options(graph_optimization='max')\nexcept ValueError:\n    pass\n"
            "check_options(threads=2, shape='[1,64]', providers=['CPUExecutionProvider'])\n"
            "assert 'onnxruntime' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(("model", "message"), [
    ("missing.onnx", "does not exist"),
    ("junk.onnx", "is not a model ONNX Runtime can load"),
    (b"not a protobuf", "model bytes is not a model"),
    (42, "model must be the path of an .onnx file"),
])
def test_bad_model_is_a_usage_error(tmp_path: Path, model: Any, message: str) -> None:
    (tmp_path / "junk.onnx").write_text("this is not an ONNX file")
    if isinstance(model, str):
        model = tmp_path / model
    with pytest.raises(CpuperfUsageError, match=message):
        compile_model(model, check_options())


def test_unknown_session_option_names_it(tiny_onnx: Path) -> None:
    with pytest.raises(CpuperfUsageError, match=r"session_options\['enable_turbo'\]"):
        compile_model(tiny_onnx, check_options(session_options={"enable_turbo": True}))


def test_shape_errors_name_shape(tiny_onnx: Path) -> None:
    with pytest.raises(CpuperfUsageError, match="lacks; its inputs are input_ids"):
        compile_model(tiny_onnx, check_options(shape={"pixel_values": [1, 3, 8, 8]}))
    # without the cpuperf_default_shape metadata the dynamic dims need shape=
    import onnx

    proto = onnx.load(str(tiny_onnx))
    del proto.metadata_props[:]
    with pytest.raises(CpuperfUsageError, match=r"dynamic dims .* pass shape="):
        compile_model(proto, check_options())
    resized = compile_model(proto, check_options(shape="[2,16]"))
    assert resized.example_inputs()["input_ids"].shape == (2, 16)
    assert resized.example_inputs()["input_ids"].max() < 1000  # the fallback vocabulary
    assert resized.batch_size == 2


def test_session_on_tiny_bert(tiny_onnx: Path) -> None:
    compiled = compile_model(tiny_onnx, check_options(threads=1, graph_optimization="extended",
                                                      session_options={"enable_cpu_mem_arena":
                                                                       False}))
    inputs = compiled.example_inputs()
    assert compiled.input_names() == ("input_ids", "attention_mask", "token_type_ids")
    assert inputs["input_ids"].shape == (1, 64)  # the cpuperf_default_shape metadata
    assert inputs["input_ids"].max() < 1024 and inputs["input_ids"].max() >= 1000  # vocab 1024
    assert inputs["attention_mask"].min() == 1 and inputs["token_type_ids"].max() == 0
    assert compiled.versions() == {"onnxruntime": ort.__version__}
    config = compiled.effective_config()
    assert config["graph_optimization_level"] == "ORT_ENABLE_EXTENDED"
    assert config["providers"] == "CPUExecutionProvider"
    assert config["input_shapes"] == "input_ids=1x64,attention_mask=1x64,token_type_ids=1x64"
    assert compiled.session.get_session_options().enable_cpu_mem_arena is False
    kernels = compiled.kernels()
    assert kernels.matmul_layers >= 12  # 2 layers x (Q, K, V, output, 2 feed-forward)
    assert all(key.endswith(":CPUExecutionProvider") for key in kernels.exec_types)
    assert kernels.dominant_isa == "unknown" and not kernels.sparse
    # the timed call runs one inference on the bound inputs
    target = compiled.timing_target(inputs)
    target.call()
    assert target.batch_size == 1 and target.threads == 1
    with pytest.raises(CpuperfUsageError, match="shape"):
        compiled.timing_target(compiled.example_inputs() | {"input_ids": np.zeros((1, 8))})


def test_profile_summary_counts_matmuls() -> None:
    def node(op: str) -> dict:
        return {"cat": "Node", "name": f"n_{op}_kernel_time",
                "args": {"op_name": op, "provider": "CPUExecutionProvider"}}

    events = [node("MatMulInteger"), node("QAttention"), node("Add"),
              {"cat": "Session", "name": "model_run"},
              {"cat": "Node", "name": "n_before", "args": {"op_name": "MatMul"}}]
    report = summarize_profile(events)
    assert report.matmul_layers == 2
    assert report.exec_types == {"MatMulInteger:CPUExecutionProvider": 1,
                                 "QAttention:CPUExecutionProvider": 1,
                                 "Add:CPUExecutionProvider": 1}


def test_profile_file_is_removed(tiny_onnx: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    compiled = compile_model(tiny_onnx, check_options(threads=2))
    assert compiled.kernels().matmul_layers > 0
    assert list(tmp_path.iterdir()) == []
    assert not compiled.session.get_session_options().enable_profiling


def test_outputs_agree_with_torch_and_openvino(tiny_onnx: Path) -> None:
    import torch

    from pytest_cpuperf.backends.openvino import check_options as ov_options
    from pytest_cpuperf.backends.openvino import compile_model as ov_compile_model
    from pytest_cpuperf.models import BertSpec, build_torch_bert, example_batch

    batch = example_batch(BertSpec.tiny(), batch=3, seed=7)
    batch["attention_mask"][1, 40:] = 0
    with torch.no_grad():
        eager = build_torch_bert(BertSpec.tiny())(
            **{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    ort_logits = compile_model(tiny_onnx, check_options(threads=2)).predict(batch)
    ov = ov_compile_model(tiny_onnx, ov_options(precision="f32", shape="[3,64]"))
    ov_logits = ov.predict(batch)
    assert ort_logits.shape == (3, 2)
    np.testing.assert_allclose(ort_logits, eager, atol=1e-4)
    np.testing.assert_allclose(ort_logits, ov_logits, atol=1e-4)


def test_threads_read_back(tiny_onnx: Path) -> None:
    one = compile_model(tiny_onnx, check_options(threads=1))
    two = compile_model(tiny_onnx, check_options(threads=2, execution_mode="parallel",
                                                 inter_op_threads=2))
    assert one.effective_config()["intra_op_num_threads"] == 1
    assert two.effective_config()["intra_op_num_threads"] == 2
    assert two.effective_config()["inter_op_num_threads"] == 2
    assert two.effective_config()["execution_mode"] == "ORT_PARALLEL"
    assert one.label != two.label
    # read back, not echoed: with a single inter-op thread ORT falls back to sequential
    fallback = compile_model(tiny_onnx, check_options(execution_mode="parallel",
                                                      inter_op_threads=1))
    assert fallback.effective_config()["execution_mode"] == "ORT_SEQUENTIAL"


def test_measure_through_pytest(pytester: pytest.Pytester, tiny_onnx: Path) -> None:
    pytester.makepyfile(f"""
        import pytest

        MODEL = {str(tiny_onnx)!r}

        @pytest.mark.cpuperf(trials=2, trial_time=0.2, warmup=0.05)
        def test_ort(ort_compile, cpuperf):
            compiled = ort_compile(MODEL, threads=1)
            assert ort_compile(MODEL, threads=1) is compiled  # equal calls share one session
            assert ort_compile(MODEL, threads=2) is not compiled
            m = cpuperf.measure(compiled, name="ort")
            assert m.throughput > 0 and m.backend == "onnxruntime"
    """)
    report = pytester.path / "report.json"
    result = pytester.runpytest("--cpuperf", f"--cpuperf-report={report}")
    result.assert_outcomes(passed=1)
    records = {r["metric"]: r["current"] for r in json.loads(report.read_text())["results"]}
    assert set(records) == {"ort/throughput", "ort/latency_p90_ms"}
    throughput = records["ort/throughput"]
    assert throughput["value"] > 0 and len(throughput["samples"]) == 2
    assert throughput["config"]["intra_op_num_threads"] == 1
    assert throughput["versions"]["onnxruntime"] == ort.__version__
    assert throughput["kernels"]["matmul_layers"] > 0
    assert records["ort/latency_p90_ms"]["value"] > 0


def test_unavailable_backend_skips_with_reason(pytester: pytest.Pytester) -> None:
    ok, reason = ort_status("onnxruntime_missing_for_this_test")
    assert not ok and "pytest-cpuperf[onnxruntime]" in reason
    assert ort_status() == (True, "")
    # the fixture itself: onnxruntime made unimportable in a fresh interpreter
    pytester.makeconftest("import sys\nsys.modules['onnxruntime'] = None\n")
    pytester.makepyfile("def test_ort(ort_compile):\n    raise AssertionError('ran')\n")
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*'onnxruntime' is not installed*pytest-cpuperf[[]onnxruntime]*"])
