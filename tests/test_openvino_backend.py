"""OpenVINO backend: bad input before any measurement, effective properties, kernels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cpuperf.backends.openvino import check_options, compile_model, parse_shape
from pytest_cpuperf.errors import CpuperfUsageError
from pytest_cpuperf.isa import detect


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


def test_kernel_report_names_isa(tiny_int8_ir: Path) -> None:
    kernels = compile_model(tiny_int8_ir, check_options()).kernels()
    cpu = detect()
    assert kernels.matmul_layers >= 12  # 6 per encoder layer at least
    expected = "amx" if cpu.has("amx_int8") else ("avx512" if cpu.has("avx512f") else "avx2")
    assert kernels.dominant_isa == expected
    assert any("FullyConnected" in key for key in kernels.exec_types)


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
