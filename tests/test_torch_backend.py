"""Stock PyTorch backend: real runs of the tiny BERT in eager, jit and compile, fp32 and bf16."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from pytest_cpuperf.backends import torch as tb  # noqa: E402
from pytest_cpuperf.backends.base import CompiledModel, SyncTarget, generate_inputs  # noqa: E402
from pytest_cpuperf.backends.onednn import kernels_note, parse_onednn_verbose  # noqa: E402
from pytest_cpuperf.errors import CpuperfUsageError  # noqa: E402
from pytest_cpuperf.measure.engine import EngineSettings, measure  # noqa: E402
from pytest_cpuperf.measure.instances import measure_instances  # noqa: E402
from pytest_cpuperf.models import BertSpec, build_torch_bert  # noqa: E402

SETTINGS = EngineSettings(trials=3, trial_time_s=0.3, warmup_s=0.1)
SPEC = BertSpec.tiny()


@pytest.fixture(scope="module")
def bert() -> Any:
    return build_torch_bert(SPEC)


@pytest.fixture(scope="module")
def batch(bert: Any) -> dict[str, np.ndarray]:
    """Three rows: predict() must run them in chunks of the example batch (1)."""
    return generate_inputs(tb.HF_INPUTS, (3, SPEC.seq_len), SPEC.vocab, seed=7)


@pytest.fixture(scope="module")
def reference(bert: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return bert(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _check_measured(compiled: tb.TorchCompiled, mode: str, dtype: str) -> None:
    result = measure(compiled, settings=SETTINGS)
    assert len(result.trials) == 3 and result.throughput > 0
    assert result.backend == "torch"
    assert result.config["mode"] == mode and result.config["dtype"] == dtype
    assert result.versions["torch"] == torch.__version__
    assert result.latency.count == result.iterations


def test_eager_fp32_is_the_model(bert: Any, batch: dict, reference: np.ndarray) -> None:
    compiled = tb.optimize(bert)
    assert isinstance(compiled, CompiledModel)
    assert compiled.label == "torch-eager-fp32" and compiled.batch_size == 1
    np.testing.assert_allclose(compiled.predict(batch), reference, atol=1e-5)
    _check_measured(compiled, "eager", "fp32")


def test_jit_fp32_matches_eager(bert: Any, batch: dict, reference: np.ndarray) -> None:
    compiled = tb.optimize(bert, mode="jit", threads=1)
    np.testing.assert_allclose(compiled.predict(batch), reference, atol=1e-4)
    assert compiled.effective_config()["threads"] == 1
    _check_measured(compiled, "jit", "fp32")
    assert torch.get_num_threads() == 1


@pytest.mark.requires_isa("avx512_bf16")
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_bf16_autocast(bert: Any, batch: dict, reference: np.ndarray, mode: str) -> None:
    compiled = tb.optimize(bert, mode=mode, dtype="bf16")
    logits = compiled.predict(batch)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, reference, atol=0.05)
    _check_measured(compiled, mode, "bf16")
    report = compiled.kernels()
    assert report is not None and report.matmul_layers > 0, compiled.effective_config()
    assert report.dominant_isa in ("avx512", "amx")
    # oneDNN names bf16 kernels after their data type on AVX-512 BF16 CPUs
    # (brg_matmul:avx512_core_bf16) and after the ISA on AMX ones (brg_matmul:avx10_1_512_amx)
    assert any(k.startswith(("matmul:", "inner_product:")) and ("bf16" in k or "amx" in k)
               for k in report.exec_types), report.exec_types


@pytest.mark.requires_isa("amx_bf16")
def test_bf16_jit_uses_amx(bert: Any) -> None:
    report = tb.require_amx(tb.optimize(bert, mode="jit", dtype="bf16"))
    assert report.dominant_isa == "amx"


@pytest.mark.slow
def test_compile_with_freezing(bert: Any, batch: dict, reference: np.ndarray) -> None:
    compiled = tb.optimize(bert, mode="compile")
    np.testing.assert_allclose(compiled.predict(batch), reference, atol=1e-4)
    _check_measured(compiled, "compile", "fp32")


@pytest.mark.slow
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 usable cores")
def test_two_pinned_instances(bert: Any) -> None:
    factory = functools.partial(tb.optimize, bert, mode="jit", label="tiny-jit")
    result = measure_instances(factory, instances=2, cores_per_instance=1, settings=SETTINGS)
    assert result.label == "tiny-jit x2x1c" and result.requests == 2
    assert len(result.trials) == 3 and result.throughput > 0
    assert result.config["cpu_sets"].count("/") == 1 and result.config["threads"] == 1
    with pytest.raises(CpuperfUsageError, match="exceeds"):
        measure_instances(factory, instances=64, cores_per_instance=4, settings=SETTINGS)


def test_example_inputs_follow_the_model(bert: Any) -> None:
    compiled = tb.optimize(bert, example_inputs=(2, 16))
    inputs = compiled.example_inputs(seed=3)
    assert compiled.input_names() == ("input_ids", "attention_mask", "token_type_ids")
    assert inputs["input_ids"].shape == (2, 16) and compiled.batch_size == 2
    assert inputs["input_ids"].min() >= 0 and inputs["input_ids"].max() < SPEC.vocab
    assert (inputs["attention_mask"] == 1).all() and (inputs["token_type_ids"] == 0).all()
    assert not np.array_equal(inputs["input_ids"], compiled.example_inputs(seed=4)["input_ids"])
    target = compiled.timing_target(inputs)
    assert isinstance(target, SyncTarget) and target.batch_size == 2


def test_given_example_inputs_are_used(bert: Any) -> None:
    given = {"input_ids": torch.ones(1, 8, dtype=torch.long)}
    compiled = tb.optimize(bert, mode="jit", example_inputs=given)
    assert compiled.input_names() == ("input_ids",)
    assert compiled.predict(compiled.example_inputs()).shape == (1, SPEC.num_labels)


def test_timing_target_checks_inputs(bert: Any) -> None:
    compiled = tb.optimize(bert)
    inputs = compiled.example_inputs()
    del inputs["attention_mask"]
    with pytest.raises(CpuperfUsageError, match=r"missing \['attention_mask'\]"):
        compiled.timing_target(inputs)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"mode": "fast"}, "mode"),
    ({"dtype": "fp16"}, "dtype"),
    ({"dtype": None}, "dtype"),
    ({"threads": 0}, "threads"),
    ({"threads": True}, "threads"),
    ({"label": 3}, "label"),
    ({"example_inputs": "x"}, "example_inputs"),
    ({"example_inputs": (1, 0)}, "example_inputs"),
    ({"example_inputs": {}}, "example_inputs"),
])
def test_bad_keywords_name_the_parameter(bert: Any, kwargs: dict, name: str) -> None:
    with pytest.raises(CpuperfUsageError, match=rf"^{name}\b"):
        tb.optimize(bert, **kwargs)


def test_model_must_be_a_module() -> None:
    with pytest.raises(CpuperfUsageError, match=r"model must be a torch\.nn\.Module"):
        tb.optimize("bert.xml")


VERBOSE = """\
onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with Intel AMX
onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx512_core_amx,undef,src:bf16,,64x768,0.1
onednn_verbose,v1,primitive,exec,cpu,inner_product,brgemm:avx512_core_amx,forward,src:bf16,,mb64,0.1
onednn_verbose,v1,primitive,exec,cpu,inner_product,brgemm:avx512_core_bf16,forward,src,,mb64,0.1
onednn_verbose,v1,primitive,exec,cpu,eltwise,jit:avx512_core,forward,data:f32,,1x64,0.01
onednn_verbose,v1,graph,exec,cpu,100141,quantized_matmul_post_ops,,,,,dnnl_backend,0.2
unrelated output
"""


def test_parse_onednn_verbose() -> None:
    report = parse_onednn_verbose(VERBOSE)
    assert report is not None
    assert report.matmul_layers == 3 and report.amx_layers == 2
    assert report.dominant_isa == "amx"
    assert report.exec_types["inner_product:brgemm:avx512_core_amx"] == 1
    assert report.exec_types["graph:quantized_matmul_post_ops"] == 1
    assert parse_onednn_verbose("no verbose here\n") is None


class _Stub:
    label = "stub"

    def __init__(self, text: str) -> None:
        self.report = parse_onednn_verbose(text)

    def kernels(self) -> Any:
        return self.report

    def effective_config(self) -> dict[str, Any]:
        return {"kernels": kernels_note(self.report)}


def test_require_amx() -> None:
    assert tb.require_amx(_Stub(VERBOSE)).amx  # type: ignore[arg-type]
    no_amx = "\n".join(line for line in VERBOSE.splitlines() if "amx" not in line)
    with pytest.raises(AssertionError, match=r"stub: AMX kernels required, but none ran: 1 "
                                             r"matmul primitives used isa=avx512"):
        tb.require_amx(_Stub(no_amx))  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="no oneDNN primitive ran"):
        tb.require_amx(_Stub(""))  # type: ignore[arg-type]


def test_thread_count_never_leaks_into_the_next_model(bert: Any, batch: dict) -> None:
    """A threads=1 model measured first must not leave the next (threads=None) model on one
    thread: each runs with its own count, the default being torch's at import."""
    one = tb.optimize(bert, mode="eager", threads=1)
    default = tb.optimize(bert, mode="eager")
    one.predict(batch)
    assert torch_threads() == 1
    default.predict(batch)
    assert torch_threads() == tb.default_threads() == default.effective_config()["threads"]
    one.timing_target(one.example_inputs()).call()
    assert torch_threads() == 1


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())
