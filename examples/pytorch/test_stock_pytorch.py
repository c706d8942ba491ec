"""Stock PyTorch's serving recipes held against fp32 eager: PT2E int8 and bf16 ``torch.compile``.

These are the successors of IPEX's int8 and bf16 + jit recipes (the two-environment
comparison with IPEX itself is ``examples/migration``). The model is bert-base at sequence 64,
built from its config with seeded weights (no hub). Each recipe is measured against stock eager
fp32, interleaved (``cpuperf.compare``), and both figures are gated against this machine's
baselines. The int8 model's kernel report must name the ISA that oneDNN's int8 matmuls have on
this CPU: AMX on a Xeon with AMX-INT8, AVX-512 (VNNI) on AVX-512 machines, AVX2 elsewhere.

    pytest --cpuperf examples/pytorch

The speed claims need the hardware that makes them true, so they are gated by ISA. On an AVX2
CPU the tests still measure and record every figure, and they check the kernels. What each
class measured: docs/how-to/pytorch-int8.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_cpuperf.backends.onednn import vector_isa
from pytest_cpuperf.models import BertSpec

SPEC = BertSpec.bert_base(seq_len=64)
EXAMPLE = (1, SPEC.seq_len)
INT8_OVER_FP32 = 1.5
"""The least int8 / fp32-eager throughput (the 95% CI's low bound) where oneDNN has VNNI."""
BF16_OVER_FP32 = 1.3
"""The least bf16-compile / fp32-eager throughput where the CPU has AVX-512 BF16."""


@pytest.fixture(scope="module")
def bert() -> Any:
    """bert-base from its config with seeded weights, in eval mode."""
    pytest.importorskip("transformers")
    from pytest_cpuperf.models import build_torch_bert

    return build_torch_bert(SPEC)


@pytest.fixture(scope="module")
def eager_fp32(torch_optimize, bert) -> Any:
    """Stock eager fp32, what every recipe here is compared with."""
    return torch_optimize(bert, mode="eager", dtype="fp32", example_inputs=EXAMPLE,
                          label="eager-fp32")


@pytest.fixture(scope="module")
def compile_int8(torch_optimize, bert) -> Any:
    """PT2E static int8 (torchao's X86InductorQuantizer), calibrated on 8 seeded generated
    batches, compiled by inductor with freezing."""
    pytest.importorskip("torchao")
    return torch_optimize(bert, mode="compile", dtype="int8", example_inputs=EXAMPLE)


def onednn_int8_isa(cpu_isa) -> str:
    """The ISA oneDNN's int8 matmuls run on this CPU, as a kernel report names it."""
    if cpu_isa.masked:
        pytest.skip("--cpuperf-isa-mask hides flags from the plugin, not from oneDNN: the "
                    "kernels follow the real CPU")
    return "amx" if cpu_isa.has("amx_int8") else vector_isa(cpu_isa)


def kernel_summary(model: Any) -> str:
    """``isa=avx512: 74 matmul:brg_matmul:avx512_core_vnni``: what oneDNN ran."""
    report = model.kernels()
    if report is None:
        return "no kernel report"
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(report.exec_types.items()))
    return f"isa={report.dominant_isa}: {kinds}"


@pytest.mark.cpuperf(tolerance=0.10)
def test_int8_against_fp32_eager(cpuperf, cpu_isa, compile_int8, eager_fp32):
    """PT2E int8 against fp32 eager, interleaved; on a VNNI CPU at least x1.5."""
    result = cpuperf.compare(compile_int8, eager_fp32, names=("compile_int8", "eager_fp32"))
    print(result.describe(), "|", kernel_summary(compile_int8))
    if cpu_isa.has("avx512_vnni"):
        result.assert_faster(INT8_OVER_FP32)


def test_int8_runs_the_cpus_int8_kernels(cpu_isa, compile_int8):
    """Every quantized Linear ran as a oneDNN int8 matmul of the ISA this CPU has.

    The report comes from oneDNN's verbose output of an untimed inference. Where the kernels
    name no ISA (``gemm:jit`` on AVX2), it infers the ISA from the CPU and says so.
    """
    report = compile_int8.kernels()
    assert report is not None, compile_int8.effective_config().get("kernels")
    assert report.matmul_layers == 6 * SPEC.layers + 2, report.exec_types
    assert report.dominant_isa == onednn_int8_isa(cpu_isa), report.summary()


@pytest.mark.cpuperf(tolerance=0.10)
@pytest.mark.requires_isa("avx512_bf16")
def test_bf16_compile_against_fp32_eager(cpuperf, torch_optimize, bert, eager_fp32):
    """bf16 through ``torch.compile`` with freezing against fp32 eager: at least x1.3 where
    the CPU has AVX-512 BF16 (on AMX, oneDNN's bf16 inner products run AMX)."""
    bf16 = torch_optimize(bert, mode="compile", dtype="bf16", example_inputs=EXAMPLE)
    result = cpuperf.compare(bf16, eager_fp32, names=("compile_bf16", "eager_fp32"))
    print(result.describe(), "|", kernel_summary(bf16))
    result.assert_faster(BF16_OVER_FP32)
