"""The same bert-base FP32 ONNX export through ONNX Runtime and through OpenVINO, side by side.

Both runtimes read the one ``model.onnx`` file: ORT on its CPU execution provider with as many
intra-op threads as the machine has usable cores, OpenVINO compiled with ``precision="f32"``
(otherwise its CPU plugin runs FP32 models in bf16 where AVX-512 BF16 exists) and streams and
threads to match. The comparison is interleaved (ABAB...), both sides are gated against this
machine's baseline, and the two runtimes' logits must agree before anything is timed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pytest_cpuperf.isa import CpuIsa

SEQ_LEN = 64


def compile_both(ort_compile, ov_compile, model: Path, cpu_isa: CpuIsa):
    """ORT (threads = usable cores) and OpenVINO f32 (streams and threads as the machine allows)."""
    ort_fp32 = ort_compile(model, threads=cpu_isa.cores)
    # OpenVINO's ONNX reader drops the file's metadata (default shape), so the shape is given
    ov_fp32 = ov_compile(model, precision="f32", streams=cpu_isa.cores, threads=cpu_isa.cores,
                         shape=f"[1,{SEQ_LEN}]")
    return ort_fp32, ov_fp32


@pytest.mark.cpuperf(max_abs_diff=1e-3, min_agreement=0.99, min_cosine=0.9999)
def test_ort_and_openvino_agree(ort_compile, ov_compile, cpuperf, cpu_isa, bert_base_fp32_onnx):
    """Same file, same inputs, same logits (FP32 both): the comparison compares like with like.
    The agreement is recorded and gated by its thresholds on any machine, baseline or not."""
    ort_fp32, ov_fp32 = compile_both(ort_compile, ov_compile, bert_base_fp32_onnx, cpu_isa)
    inputs = ort_fp32.example_inputs(seed=3)
    np.testing.assert_allclose(ort_fp32.predict(inputs), ov_fp32.predict(inputs), atol=1e-3)
    cpuperf.agreement(ov_fp32, ort_fp32, inputs, name="ov_vs_ort")
    assert ort_fp32.effective_config()["intra_op_num_threads"] == cpu_isa.cores
    assert ov_fp32.property("INFERENCE_PRECISION_HINT") == "f32"


@pytest.mark.cpuperf(tolerance=0.05)
def test_openvino_vs_ort_fp32(ort_compile, ov_compile, cpuperf, cpu_isa, bert_base_fp32_onnx):
    ort_fp32, ov_fp32 = compile_both(ort_compile, ov_compile, bert_base_fp32_onnx, cpu_isa)
    inputs = ort_fp32.example_inputs()  # token ids below bert-base's vocabulary, for both
    result = cpuperf.compare(ov_fp32, ort_fp32, inputs=inputs, names=("openvino_fp32", "ort_fp32"))
    print(result.describe())
    print(f"OpenVINO / ONNX Runtime, bert-base FP32 seq 64: x{result.ratio.ratio:.2f} "
          f"({result.a.throughput:.1f} vs {result.b.throughput:.1f} samples/s)")
