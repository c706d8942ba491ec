"""Stock PyTorch int8 (PT2E through torchao, compiled by inductor) and compile with freezing.

The int8 models are the tiny BERT trained on the synthetic task (cached on disk): a seeded
random BERT's two logits lie too close together for top-1 agreement to mean anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_cpuperf.backends import registry
from pytest_cpuperf.backends.onednn import parse_onednn_verbose, this_cpu, vector_isa
from pytest_cpuperf.errors import CpuperfUsageError

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pytest_cpuperf.backends import torch as tb  # noqa: E402
from pytest_cpuperf.backends import torch_options  # noqa: E402
from pytest_cpuperf.measure.accuracy import agreement  # noqa: E402
from pytest_cpuperf.models import BertSpec, build_torch_bert, synthetic  # noqa: E402

SPEC = BertSpec.tiny()
DATA = Path(__file__).parent / "data"
ROWS = 200


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained() -> Any:
    return synthetic.load_trained(SPEC)


@pytest.fixture(scope="module")
def held_out() -> dict[str, np.ndarray]:
    """Seeded sentences of the synthetic task (the training split uses another seed)."""
    return synthetic.inputs_only(synthetic.make_dataset(ROWS, SPEC, seed=1))


def expected_isa() -> str:
    """The ISA oneDNN's int8 matmuls run on this CPU: AMX where it has AMX-INT8; AVX2 where
    ``ONEDNN_MAX_CPU_ISA`` caps oneDNN at AVX2 (how the AVX2 path runs on a wider CPU)."""
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper().startswith("AVX2"):
        return "avx2"
    cpu = this_cpu()
    return "amx" if "amx_int8" in cpu.flags else vector_isa(cpu)


def _inductor_settings() -> tuple[bool, Any]:
    return torch._inductor.config.freezing, torch._inductor.config.pre_grad_custom_pass


# --- real int8 runs ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("quantization", ["static", "dynamic"])
def test_int8_agrees_with_fp32_eager(trained: Any, held_out: dict[str, np.ndarray],
                                     quantization: str) -> None:
    """On every CPU class: top-1 agreement >= 0.99, every Linear a oneDNN int8 matmul of the
    ISA the CPU gives it (named by the kernels, or inferred from the CPU where they name none,
    as AVX2's ``gemm:jit``)."""
    pytest.importorskip("torchao")
    before = _inductor_settings()
    calibration = (synthetic.calibration_batches(SPEC, 16) if quantization == "static"
                   else None)
    compiled = tb.optimize(trained, mode="compile", dtype="int8", quantization=quantization,
                           calibration=calibration)
    assert _inductor_settings() == before, "freezing or the lift-up pass leaked out"
    suffix = "-dynamic" if quantization == "dynamic" else ""
    assert compiled.label == f"torch-compile-int8{suffix}"

    reference = tb.optimize(trained, label="fp32-eager")
    result = agreement(compiled, reference, held_out)
    assert result.count == ROWS
    assert result.top1_agreement >= 0.99, result

    config = compiled.effective_config()
    assert config["dtype"] == "int8" and config["quantization"] == quantization
    assert config["freezing"] is True and "X86InductorQuantizer" in config["quantizer"]
    assert config["calibration_batches"] == (16 if quantization == "static" else None)
    assert compiled.versions()["torchao"] == tb.package_version("torchao")

    report = compiled.kernels()
    assert report is not None, config["kernels"]
    # every encoder Linear (6 a layer), the pooler and the classifier: onednn qlinear calls
    assert report.matmul_layers == 6 * SPEC.layers + 2, report.exec_types
    assert all(k.startswith("matmul:") for k in report.exec_types), report.exec_types
    assert report.dominant_isa == expected_isa(), report.summary()
    if expected_isa() != "avx2":  # AVX2's int8 gemm names no ISA (AVX-VNNI's would)
        assert not report.isa_inferred, report.isa_inferred
    assert report.amx == (expected_isa() == "amx")


@pytest.mark.slow
@pytest.mark.requires_isa("avx512_bf16")
def test_bf16_compile_freezes_into_onednn_linears() -> None:
    """With freezing, inductor packs bf16 Linears for oneDNN (inner products that name their
    ISA); without it they would stay ATen matmuls."""
    before = _inductor_settings()
    bert = build_torch_bert(SPEC)
    compiled = tb.optimize(bert, mode="compile", dtype="bf16")
    assert _inductor_settings() == before
    batch = compiled.example_inputs(seed=5)
    with torch.no_grad():
        eager = bert(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    np.testing.assert_allclose(compiled.predict(batch), eager, atol=0.05)
    report = compiled.kernels()
    assert report is not None and report.matmul_layers == 6 * SPEC.layers + 2
    assert report.dominant_isa in ("avx512", "amx") and not report.isa_inferred
    assert compiled.effective_config()["freezing"] is True


# --- usage errors, before anything compiles --------------------------------------------------


class NeverRun(torch.nn.Module):
    """A model that fails if anything (export, trace, compile, calibration) runs it."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the model ran: the usage error came too late")


BAD_COMBINATIONS = [
    ({"dtype": "int8"}, r"^mode must be 'compile' for dtype='int8', got 'eager'.*"
                        r"pass mode='compile'"),
    ({"dtype": "int8", "mode": "jit"}, r"^mode must be 'compile' for dtype='int8', got 'jit'"),
    ({"dtype": "int8", "mode": "compile", "quantization": "qat"},
     r"^quantization must be one of 'static', 'dynamic', got 'qat'"),
    ({"mode": "compile", "quantization": "static"},
     r"^quantization applies to dtype='int8' only.*pass dtype='int8'"),
    ({"dtype": "bf16", "calibration": [{}]}, r"^calibration applies to dtype='int8' only"),
    ({"dtype": "int8", "mode": "compile", "quantization": "dynamic", "calibration": [{}]},
     r"^calibration applies to quantization='static' only.*quantization='static'"),
    ({"dtype": "fp16"}, r"^dtype must be one of 'fp32', 'bf16', 'int8', got 'fp16'"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_COMBINATIONS)
def test_bad_combinations_fail_before_compiling(kwargs: dict, message: str) -> None:
    before = _inductor_settings()
    with pytest.raises(CpuperfUsageError, match=message):
        tb.optimize(NeverRun(), **kwargs)
    assert _inductor_settings() == before


@pytest.mark.parametrize(("kwargs", "message"), BAD_COMBINATIONS)
def test_cold_start_checks_the_same_combinations(kwargs: dict, message: str) -> None:
    """The registry row's keyword checks (no torch needed) refuse what the fixture refuses."""
    with pytest.raises(CpuperfUsageError, match=message):
        registry.by_name("torch").check_cold_options(kwargs)


def test_cold_start_accepts_int8_keywords() -> None:
    row = registry.by_name("torch")
    row.check_cold_options({"mode": "compile", "dtype": "int8"})
    row.check_cold_options({"mode": "compile", "dtype": "int8", "quantization": "dynamic"})
    row.check_cold_options({"mode": "compile", "dtype": "int8", "calibration": [{}]})


def test_static_int8_needs_a_calibration_source() -> None:
    with pytest.raises(CpuperfUsageError, match=r"^calibration: static int8 needs inputs .* "
                                                 r"pass calibration=\[.*quantization='dynamic'"):
        tb.optimize(NeverRun(), mode="compile", dtype="int8")


@pytest.mark.parametrize(("calibration", "message"), [
    ({"input_ids": 1}, r"^calibration must be a list of input dicts"),
    ([], r"^calibration must hold at least one batch"),
    (["x"], r"^calibration\[0\] must be a dict of inputs"),
    ([{"input_ids": np.ones((1, 8), np.int64)}], r"^calibration\[0\] lacks inputs"),
])
def test_bad_calibration_fails_before_compiling(calibration: object, message: str) -> None:
    model = build_torch_bert(SPEC)
    with pytest.raises(CpuperfUsageError, match=message):
        tb.optimize(model, mode="compile", dtype="int8", calibration=calibration)


def test_calibration_defaults_to_the_examples_or_seeded_tokens() -> None:
    bert = build_torch_bert(SPEC)
    given = {"input_ids": np.ones((2, 16), np.int64)}
    assert tb.calibration_inputs(bert, given, generated=False) == [given]
    examples, generated = tb.resolve_examples(bert, (1, 32))
    batches = tb.calibration_inputs(bert, examples, generated)
    again = tb.calibration_inputs(bert, examples, generated)
    assert len(batches) == tb.CALIBRATION_BATCHES
    assert all(b["input_ids"].shape == (1, 32) for b in batches)
    assert all(np.array_equal(a["input_ids"], b["input_ids"])
               for a, b in zip(batches, again, strict=True))
    assert not np.array_equal(batches[0]["input_ids"], batches[1]["input_ids"])


def test_choices_are_the_backends() -> None:
    assert registry.TORCH_MODES == tb.MODES == torch_options.MODES
    assert registry.TORCH_DTYPES == tb.DTYPES == ("fp32", "bf16", "int8")
    assert tb.QUANTIZATIONS == ("static", "dynamic")


# --- recorded verbose output of the int8 path ----------------------------------------------
# Recorded on an AMX Xeon (4th gen), the AVX-512 and AVX2 ones with ONEDNN_MAX_CPU_ISA capping
# what oneDNN dispatches to: the tiny BERT, PT2E static int8, one inference.


@pytest.mark.parametrize(("name", "isa", "amx", "inferred"), [
    ("onednn-verbose-int8-amx.txt", "amx", True, False),
    ("onednn-verbose-int8-avx512-vnni.txt", "avx512", False, False),
    ("onednn-verbose-int8-avx2.txt", "avx2", False, True),  # gemm:jit names no ISA
])
def test_recorded_int8_verbose(name: str, isa: str, amx: bool, inferred: bool) -> None:
    report = parse_onednn_verbose((DATA / name).read_text())
    assert report is not None
    assert report.matmul_layers == 6 * SPEC.layers + 2
    assert report.dominant_isa == isa and report.amx == amx
    assert bool(report.isa_inferred) == inferred
    if inferred:
        assert "oneDNN: Intel AVX2" in report.isa_inferred, report.isa_inferred


def test_a_later_capture_keeps_the_processs_isa_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """oneDNN prints its ``isa:`` header once per process: a second model's capture lacks it,
    and must still read the ISA oneDNN said (AVX2 here), not the CPU's widest."""
    from pytest_cpuperf.backends import onednn

    monkeypatch.setattr(onednn, "_FIRST_ISA_LINE", {})
    first = (DATA / "onednn-verbose-int8-avx2.txt").read_text()
    later = "\n".join(line for line in first.splitlines() if "exec" in line.split(","))
    assert onednn.onednn_isa(later) is None
    assert onednn.with_isa_line(later) == later  # nothing seen yet: left as it is
    assert onednn.with_isa_line(first) == first
    report = parse_onednn_verbose(onednn.with_isa_line(later))
    assert report is not None and report.dominant_isa == "avx2"
    assert "oneDNN: Intel AVX2" in report.isa_inferred, report.isa_inferred


def test_ukernel_lines_are_counted_apart() -> None:
    """ATen's bf16 attention calls oneDNN's brgemm ukernel: counted, never as a matmul layer."""
    text = ("onednn_verbose,v1,ukernel,exec,cpu,brgemm,,undef,,0.005\n"
            "onednn_verbose,v1,primitive,exec,cpu,inner_product,brg_matmul:avx10_1_512_amx,"
            "forward_inference,src:bf16,,mb64ic128oc128,0.01\n")
    report = parse_onednn_verbose(text)
    assert report is not None and report.matmul_layers == 1
    assert report.exec_types == {"ukernel:brgemm": 1,
                                 "inner_product:brg_matmul:avx10_1_512_amx": 1}
