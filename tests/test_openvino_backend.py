"""OpenVINO backend: bad input before any measurement, effective properties, kernels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cpuperf.backends.onednn import named_isa
from pytest_cpuperf.backends.openvino import (
    check_options,
    compile_model,
    parse_shape,
    ran,
    summarize_exec_types,
    summarize_profiling,
)
from pytest_cpuperf.errors import CpuperfUsageError
from pytest_cpuperf.isa import CpuIsa, detect
from pytest_cpuperf.records.kernels import KernelReport


@pytest.mark.parametrize(("kwargs", "names"), [
    ({"sparse_rate": 1.5}, "sparse_rate"),
    ({"sparse_rate": -0.1}, "sparse_rate"),
    ({"sparse_rate": "0.75"}, "sparse_rate"),
    ({"sparse_rate": True}, "sparse_rate"),
    ({"hint": "fastest"}, "hint"),
    ({"precision": "f64"}, "precision"),
    ({"streams": 0}, "streams"),
    ({"threads": "two"}, "threads"),
    ({"shape": "input_ids(1,64)"}, "shape"),
    ({"shape": {"input_ids": [1, "x"]}}, "shape"),
    ({"config": "/nonexistent/config.json"}, "config"),
])
def test_bad_keywords_name_the_parameter(kwargs: dict, names: str) -> None:
    with pytest.raises(CpuperfUsageError, match=names):
        check_options(**kwargs)


def test_shape_forms() -> None:
    assert parse_shape("input_ids[1,64],attention_mask[1,64]") == (
        ("input_ids", "1,64"), ("attention_mask", "1,64"))
    assert parse_shape("[1,32]") == (("", "1,32"),)
    assert parse_shape({"input_ids": [2, 16]}) == (("input_ids", "2,16"),)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(CpuperfUsageError, match="does not exist"):
        compile_model(tmp_path / "nope.xml", check_options())


def test_shape_naming_unknown_input(tiny_int8_ir: Path) -> None:
    with pytest.raises(CpuperfUsageError, match="lacks; its inputs are"):
        compile_model(tiny_int8_ir, check_options(shape={"pixel_values": [1, 3, 224, 224]}))


def test_rejected_property_says_what_was_passed(tiny_int8_ir: Path) -> None:
    with pytest.raises(CpuperfUsageError, match="NUM_STREAMZ"):
        compile_model(tiny_int8_ir, check_options(config={"NUM_STREAMZ": 2}))


def test_effective_properties_and_load_config(tiny_int8_ir: Path, tmp_path: Path) -> None:
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"CPU": {"NUM_STREAMS": "1", "PERF_COUNT": "NO"}}))
    compiled = compile_model(tiny_int8_ir, check_options(config=str(config), threads=1,
                                                         precision="f32"))
    assert compiled.property("NUM_STREAMS") == 1
    assert compiled.property("INFERENCE_NUM_THREADS") == 1
    assert compiled.property("INFERENCE_PRECISION_HINT") == "f32"
    resized = compile_model(tiny_int8_ir, check_options(shape="[1,32]"))
    assert resized.example_inputs()["input_ids"].shape == (1, 32)
    assert resized.example_inputs()["input_ids"].max() < 1024  # within the vocabulary
    assert resized.example_inputs()["attention_mask"].min() == 1


def test_sparse_rate_reaches_the_runtime(tiny_sparse_int8_ir: Path) -> None:
    sparse = compile_model(tiny_sparse_int8_ir, check_options(sparse_rate=0.5))
    dense = compile_model(tiny_sparse_int8_ir, check_options())
    assert sparse.property("CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE") == pytest.approx(0.5)
    assert dense.property("CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE") == pytest.approx(1.0)
    if not detect().has("amx_int8"):
        # Sparse weight decompression needs AMX: the runtime must have ignored the request.
        assert sparse.kernels().sparse_layers == 0
        assert not sparse.kernels().amx


def test_dense_compile_runs_no_sparse_kernel(tiny_sparse_int8_ir: Path) -> None:
    """On any CPU: without sparse_rate, even an 80% sparse model runs dense FullyConnected."""
    kernels = compile_model(tiny_sparse_int8_ir, check_options()).kernels()
    assert kernels.matmul_layers >= 12
    assert kernels.sparse_layers == 0
    assert not [k for k in kernels.exec_types if "sparse" in k.lower()]


@pytest.mark.requires_isa("amx_int8")
def test_sparse_compile_runs_sparse_kernels_on_amx(tiny_sparse_int8_ir: Path) -> None:
    """With AMX, sparse_rate=0.5 on the 80% sparse model runs the sparse INT8 brgemm kernels
    for the encoder Linears (6 per layer, 2 layers)."""
    kernels = compile_model(tiny_sparse_int8_ir, check_options(sparse_rate=0.5)).kernels()
    assert kernels.sparse_layers >= 12, kernels.exec_types
    sparse_fc = sum(count for key, count in kernels.exec_types.items()
                    if key.startswith("FullyConnected") and "sparse" in key.lower())
    assert sparse_fc == kernels.sparse_layers
    assert kernels.amx


def machine_class(cpu: CpuIsa) -> str:
    """The class a test expects INT8 matmuls to run on: ``amx``, ``avx512`` or ``avx2``."""
    return "amx" if cpu.has("amx_int8") else ("avx512" if cpu.has("avx512f") else "avx2")


def test_kernel_report_names_isa(tiny_int8_ir: Path) -> None:
    """On every class: the INT8 matmuls' ISA is named ``amx``, ``avx512`` or ``avx2``, and
    where their exec types name no ISA (``jit_gemm_I8`` on AVX2) the report says it inferred
    it from the CPU, the exec types staying as the plugin spelled them."""
    kernels = compile_model(tiny_int8_ir, check_options()).kernels()
    assert kernels.matmul_layers >= 12  # 6 per encoder layer at least
    assert kernels.dominant_isa == machine_class(detect())
    fc = [key.partition(":")[2] for key in kernels.exec_types if key.startswith("FullyConnected")]
    assert fc
    unnamed = [kernel for kernel in fc if named_isa(kernel) is None]
    if unnamed:
        assert kernels.isa_inferred.startswith("inferred from the CPU"), kernels
        assert unnamed[0] in kernels.isa_inferred
        assert "inferred from the CPU" in kernels.summary()
    else:
        assert kernels.isa_inferred == ""


def _profiled(node_type: str, status: str, exec_type: str) -> object:
    import openvino as ov
    info = ov.ProfilingInfo()
    info.node_type, info.node_name, info.exec_type = node_type, f"{node_type}_0", exec_type
    info.status = getattr(ov.ProfilingInfo.Status, status)
    return info


@pytest.mark.parametrize(("node_type", "status", "exec_type", "counts"), [
    ("Subgraph", "EXECUTED", "jit_avx512_bf16", True),
    ("Subgraph", "NOT_RUN", "jit_avx512_bf16", True),  # ran in under 1 us
    ("Transpose", "EXECUTED", "unknown_bf16", False),  # no kernel named: its time decided
    ("Reshape", "EXECUTED", "unknown_i8", False),  # in place, stretched by a busy machine
    ("Multiply", "NOT_RUN", "undef", False),  # fused into its neighbour
    ("Reshape", "NOT_RUN", "unknown_i8", False),  # in place
    ("Parameter", "NOT_RUN", "unknown_i64", False),
    ("Gelu", "OPTIMIZED_OUT", "jit_avx512_bf16", False),
])
def test_a_layer_counts_when_it_ran_a_kernel(node_type: str, status: str, exec_type: str,
                                             counts: bool) -> None:
    """Statuses and exec types as the CPU plugin reports them (recorded on an AMX Xeon)."""
    assert ran(_profiled(node_type, status, exec_type)) is counts


def test_every_inference_reports_the_same_kernels(tiny_int8_ir: Path) -> None:
    """The kernel mix does not depend on how long a layer took: each of a few inferences
    alone gives the whole mix, as ``kernels="same"`` needs (a tiny Subgraph that runs in
    under 1 us reads NOT_RUN in about half of them)."""
    model = compile_model(tiny_int8_ir, check_options())
    request = model._profiled_request
    mixes = []
    for _ in range(12):
        request.infer()
        mixes.append(summarize_profiling(request.get_profiling_info()).exec_types)
    assert all(mix == mixes[0] for mix in mixes), mixes
    assert mixes[0] == model.kernels().exec_types


def test_fp32_kernel_report_names_isa() -> None:
    """FP32 FullyConnected kernels name their ISA (``brgemm_avx2_f32`` on AVX2); on AMX the
    default inference precision may be bf16, which runs AMX kernels."""
    from pytest_cpuperf.models import BertSpec, build_ir

    ir = build_ir(BertSpec.tiny(), sparsity=0.0, int8=False)
    kernels = compile_model(ir, check_options()).kernels()
    cpu = detect()
    expected = {"amx", "avx512"} if cpu.has("amx_bf16") else {machine_class(cpu)}
    assert kernels.matmul_layers >= 12
    assert kernels.dominant_isa in expected, kernels


DATA = json.loads((Path(__file__).parent / "data" / "openvino-exec-types.json").read_text())
CLASSES = DATA["classes"]


def class_cpu(name: str) -> CpuIsa:
    """A CPU of class ``name`` (``avx2``, ``avx512``, ``amx``) from its recorded flags."""
    return CpuIsa(CLASSES[name]["cpu"], 2, frozenset(CLASSES[name]["flags"].split()))


def recorded_layers(name: str, run: str) -> list[tuple[str, str]]:
    """(layer type, exec type) per executed layer of a recorded run."""
    return [tuple(key.split(":", 1)) for key, count in CLASSES[name]["runs"][run].items()
            for _ in range(count)]  # type: ignore[misc]


@pytest.mark.parametrize(("name", "run", "isa", "inferred", "matmuls", "sparse"), [
    ("avx2", "int8", "avx2", True, 14, 0),
    ("avx2", "fp32", "avx2", False, 14, 0),
    ("avx2", "int8 80% sparse, sparse_rate unset", "avx2", True, 14, 0),
    ("avx512", "int8", "avx512", False, 3, 0),
    ("amx", "int8", "amx", False, 56, 0),
    ("amx", "int8 sparse_rate 0.75", "amx", False, 56, 55),
])
def test_recorded_exec_types_name_their_class(name: str, run: str, isa: str, inferred: bool,
                                              matmuls: int, sparse: int) -> None:
    """On any machine: each class's recorded exec types read as that class, the exec types
    kept as the plugin spelled them."""
    report = summarize_exec_types(recorded_layers(name, run), class_cpu(name))
    assert report.dominant_isa == isa
    assert bool(report.isa_inferred) is inferred
    assert (report.matmul_layers, report.sparse_layers) == (matmuls, sparse)
    assert report.exec_types == CLASSES[name]["runs"][run]
    assert report.dominant_isa in KernelReport.ISAS
    assert KernelReport.from_dict(report.to_dict()) == report


@pytest.mark.parametrize(("name", "isa"), [("avx2", "avx2"), ("avx512", "avx512"),
                                           ("amx", "avx512")])
def test_unnamed_kernels_take_the_cpus_best_vector_isa(name: str, isa: str) -> None:
    """``jit_gemm_I8`` names no ISA: the plugin runs it with the widest vector ISA the CPU
    has (never AMX, which only kernels named ``amx`` use)."""
    report = summarize_exec_types(recorded_layers("avx2", "int8"), class_cpu(name))
    assert report.dominant_isa == isa
    assert report.isa_inferred == (
        f"inferred from the CPU ({isa}): 14 of 14 matmul kernels name no ISA "
        "(FullyConnected:jit_gemm_I8 x12, FullyConnectedQuantizedLegacy:jit_gemm_i8 x2)")


@pytest.mark.parametrize(("kernel", "isa"), [
    ("brgemm_avx512_amx_I8", "amx"), ("brgemm_avx512_amx_sparse_I8", "amx"),
    ("brgemm_sparse_avx512_amx_I8", "amx"), ("jit_avx512_amx_1x1_I8", "amx"),
    ("jit_avx512_I8", "avx512"), ("brgemm_avx512_I8", "avx512"), ("gemm_avx512_FP32", "avx512"),
    ("jit_avx2_FP32", "avx2"), ("gemm_avx2_I8", "avx2"), ("brgemm_avx2_f32", "avx2"),
    ("jit_avx2_1x1_f32", "avx2"), ("jit_avx_FP32", "avx"), ("jit_sse42_FP32", "sse42"),
    ("ref_any_FP32", "ref"), ("ref_f32", "ref"),
])
def test_exec_types_that_name_their_isa(kernel: str, isa: str) -> None:
    assert named_isa(kernel) == isa
    report = summarize_exec_types([("FullyConnected", kernel)], class_cpu("amx"))
    assert (report.dominant_isa, report.isa_inferred) == (isa, "")


@pytest.mark.parametrize("kernel", ["jit_gemm_I8", "jit_gemm_i8", "jit_uni_FP32", "jit_I8",
                                    "brgemm_I8", "brgemm_uni_I8", "jit_uni_dw_f32",
                                    "gemm_mlas_FP32", "gemm_any_FP32"])
@pytest.mark.parametrize("name", ["avx2", "avx512"])
def test_exec_types_that_name_no_isa_are_inferred(kernel: str, name: str) -> None:
    assert named_isa(kernel) is None
    report = summarize_exec_types([("FullyConnected", kernel)], class_cpu(name))
    assert report.dominant_isa == name
    assert report.isa_inferred.startswith(f"inferred from the CPU ({name}): 1 of 1 ")
    assert report.exec_types == {f"FullyConnected:{kernel}": 1}


def test_unrecognised_exec_type_is_unknown_not_a_fragment() -> None:
    """A kernel name outside the plugin's vocabulary reads ``unknown`` (a value rules accept),
    never a fragment of the name such as ``jit``."""
    report = summarize_exec_types([("FullyConnected", "undef"), ("FullyConnected", "undef"),
                                   ("MVN", "jit_avx2_f32")], class_cpu("avx2"))
    assert report.dominant_isa == "unknown"
    assert summarize_exec_types([("MVN", "jit_avx2_f32")], class_cpu("avx2")).dominant_isa == \
        "none"


def test_hugging_face_directory_is_exported_and_cached(tmp_path: Path, monkeypatch) -> None:
    """A local transformers directory goes through optimum-intel once, then the cache."""
    from pytest_cpuperf.models import BertSpec, build_torch_bert

    monkeypatch.setenv("CPUPERF_CACHE_DIR", str(tmp_path / "cache"))
    spec = BertSpec.tiny()
    build_torch_bert(spec).save_pretrained(tmp_path / "tiny-bert")
    with pytest.raises(CpuperfUsageError, match="dynamic shape"):
        compile_model(tmp_path / "tiny-bert", check_options()).example_inputs()
    compiled = compile_model(tmp_path / "tiny-bert", check_options(shape="[1,16]"))
    inputs = compiled.example_inputs()
    assert set(inputs) >= {"input_ids", "attention_mask"}
    assert inputs["input_ids"].shape == (1, 16) and inputs["input_ids"].max() < spec.vocab
    assert compiled.predict(inputs).shape == (1, spec.num_labels)
    exported = list((tmp_path / "cache" / "hf-export").glob("tiny-bert-*/openvino_model.xml"))
    assert len(exported) == 1


def test_hugging_face_export_uses_a_private_temp_dir_and_leaves_none(tmp_path: Path,
                                                                     monkeypatch) -> None:
    """An empty directory left where the export goes (a killed run) is replaced, and no
    temporary export directory stays behind."""
    from pytest_cpuperf.backends.hf_export import _fingerprint
    from pytest_cpuperf.models import BertSpec, build_torch_bert

    monkeypatch.setenv("CPUPERF_CACHE_DIR", str(tmp_path / "cache"))
    build_torch_bert(BertSpec.tiny()).save_pretrained(tmp_path / "tiny-bert")
    exports = tmp_path / "cache" / "hf-export"
    target = exports / f"tiny-bert-{_fingerprint(tmp_path / 'tiny-bert')}"
    target.mkdir(parents=True)
    compiled = compile_model(tmp_path / "tiny-bert", check_options(shape="[1,16]"))
    assert compiled.predict(compiled.example_inputs()).shape[0] == 1
    assert list(exports.iterdir()) == [target]


@pytest.mark.parametrize("content", [b"", b"<net>not an IR", b"\x00junk"])
@pytest.mark.parametrize("suffix", [".xml", ".onnx"])
def test_junk_model_file_is_a_usage_error(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(content)
    path.with_suffix(".bin").write_bytes(b"")
    with pytest.raises(CpuperfUsageError, match=r"could not be read by OpenVINO.*pass an"):
        compile_model(path, check_options())
