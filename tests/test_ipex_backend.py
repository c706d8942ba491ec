"""IPEX backend: version gating everywhere; real fp32/bf16/int8 runs where IPEX matches torch.

Run for real with ``tox -e ipex`` (torch 2.8 + IPEX 2.8); elsewhere the real runs skip with
:func:`ipex_status`'s reason, which :func:`test_skip_reason_names_versions` checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pytest

from pytest_cpuperf.backends import ipex as ib
from pytest_cpuperf.backends.base import generate_inputs
from pytest_cpuperf.errors import CpuperfUsageError

USABLE, REASON = ib.ipex_status()
needs_ipex = pytest.mark.skipif(not USABLE, reason=REASON)


def _installed(versions: dict[str, str]) -> Any:
    return lambda dist: versions.get(dist)


@pytest.mark.parametrize(("installed", "usable", "reason"), [
    ({"intel-extension-for-pytorch": "2.8.0", "torch": "2.13.0"}, False,
     "intel-extension-for-pytorch 2.8.0 needs torch 2.8.*, found torch 2.13.0"),
    ({"intel-extension-for-pytorch": "2.8.0+cpu", "torch": "2.8.0+cu128"}, True,
     "intel-extension-for-pytorch 2.8.0+cpu with torch 2.8.0+cu128"),
    ({"intel-extension-for-pytorch": "2.8.0"}, False,
     "intel-extension-for-pytorch 2.8.0 needs torch 2.8.*, but torch is not installed"),
    ({"torch": "2.13.0+cpu"}, False,
     "intel-extension-for-pytorch is not installed (found torch 2.13.0+cpu)"),
])
def test_status_from_metadata(monkeypatch: pytest.MonkeyPatch, installed: dict, usable: bool,
                              reason: str) -> None:
    monkeypatch.setattr(ib, "package_version", _installed(installed))
    ok, text = ib.ipex_status()
    assert ok is usable
    assert text.startswith(reason)


def test_status_never_imports_ipex() -> None:
    import sys

    ib.ipex_status()
    assert USABLE or "intel_extension_for_pytorch" not in sys.modules


def test_skip_reason_names_versions() -> None:
    """Where IPEX cannot run (e.g. torch 2.13 without IPEX), the reason says why."""
    if USABLE:
        pytest.skip("IPEX matches torch here; the skip path is covered by the tox default env")
    assert "intel-extension-for-pytorch" in REASON
    try:
        torch_version = version("torch")
    except PackageNotFoundError:
        torch_version = "torch is not installed"
    assert torch_version in REASON


def test_optimize_raises_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    monkeypatch.setattr(ib, "package_version", _installed({"torch": "2.13.0"}))
    with pytest.raises(ib.BackendUnavailable, match="not installed"):
        ib.optimize(_tiny_model(), dtype="bf16")


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"dtype": "fp16"}, "dtype"),
    ({"jit": "yes"}, "jit"),
    ({"dtype": "int8", "jit": False}, "jit"),
    ({"threads": -1}, "threads"),
    ({"label": 1.5}, "label"),
])
def test_bad_keywords_fail_before_ipex(kwargs: dict, name: str) -> None:
    pytest.importorskip("torch")
    with pytest.raises(CpuperfUsageError, match=rf"^{name}\b"):
        ib.optimize(object(), **kwargs)


def _tiny_model() -> Any:
    pytest.importorskip("transformers")
    from pytest_cpuperf.models import BertSpec, build_torch_bert

    return build_torch_bert(BertSpec.tiny())


# --- real runs (torch 2.8 + IPEX 2.8) ----------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    try:
        import torch
    except ImportError:
        yield
        return
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bert() -> Any:
    return _tiny_model()


@pytest.fixture(scope="module")
def batch() -> dict[str, np.ndarray]:
    from pytest_cpuperf.backends import torch as tb
    from pytest_cpuperf.models import BertSpec

    spec = BertSpec.tiny()
    return generate_inputs(tb.HF_INPUTS, (3, spec.seq_len), spec.vocab, seed=11)


@pytest.fixture(scope="module")
def reference(bert: Any, batch: dict[str, np.ndarray]) -> np.ndarray:
    from pytest_cpuperf.backends import torch as tb

    return tb.optimize(bert).predict(batch)


def _settings() -> Any:
    from pytest_cpuperf.measure.engine import EngineSettings

    return EngineSettings(trials=3, trial_time_s=0.3, warmup_s=0.1)


@needs_ipex
@pytest.mark.parametrize(("dtype", "atol"), [
    ("fp32", 1e-4),
    pytest.param("bf16", 0.05, marks=pytest.mark.requires_isa("avx512_bf16")),
    pytest.param("int8", 0.1, marks=pytest.mark.requires_isa("avx512_vnni")),
])
def test_ipex_matches_eager(bert: Any, batch: dict, reference: np.ndarray, dtype: str,
                            atol: float) -> None:
    from pytest_cpuperf.measure.engine import measure

    compiled = ib.optimize(bert, dtype=dtype, calibration=[batch] if dtype == "int8" else None)
    assert compiled.backend == "ipex" and compiled.label == f"ipex-jit-{dtype}"
    np.testing.assert_allclose(compiled.predict(batch), reference, atol=atol)
    result = measure(compiled, settings=_settings())
    assert result.throughput > 0 and result.backend == "ipex"
    assert result.versions["intel_extension_for_pytorch"].startswith("2.")
    assert result.config["dtype"] == dtype and result.config["jit"] is True
    if dtype != "fp32":
        report = compiled.kernels()
        assert report is not None and report.matmul_layers > 0, result.config["kernels"]


@needs_ipex
@pytest.mark.requires_isa("avx512_bf16")
def test_ipex_eager_bf16(bert: Any, batch: dict, reference: np.ndarray) -> None:
    compiled = ib.optimize(bert, dtype="bf16", jit=False)
    assert compiled.label == "ipex-eager-bf16"
    np.testing.assert_allclose(compiled.predict(batch), reference, atol=0.05)


@needs_ipex
def test_int8_rejects_bad_calibration(bert: Any) -> None:
    with pytest.raises(CpuperfUsageError, match="calibration"):
        ib.optimize(bert, dtype="int8", calibration=[{"input_ids": 1}])


@needs_ipex
@pytest.mark.requires_isa("amx_bf16")
def test_ipex_bf16_beats_stock_fp32_with_amx(bert: Any) -> None:
    """The IPEX article's claim, on an AMX CPU: bf16 + jit clearly beats stock eager fp32."""
    from pytest_cpuperf.backends import torch as tb
    from pytest_cpuperf.measure.engine import EngineSettings, compare

    fast = ib.optimize(bert, dtype="bf16", threads=1)
    tb.require_amx(fast)
    result = compare(fast, tb.optimize(bert, threads=1), settings=EngineSettings(5, 0.5, 0.2))
    result.assert_faster(1.5)


@needs_ipex
@pytest.mark.requires_isa("avx512_bf16")
def test_ipex_bf16_jit_beats_stock_fp32_on_avx512_bf16(bert: Any) -> None:
    """Without AMX (a 2-core Zen 4 VM shared with other jobs): on the tiny BERT IPEX bf16 jit
    ran x2.66 (95% CI x1.88-x3.75) the stock eager fp32, one thread each. One thread, because
    two OpenMP threads on two busy cores stall each other and the ratio's CI spans x0.2-x7.
    With two other test jobs on the machine it read x2.09 (x1.19-x3.66, 5 pairs), and on an AMX
    Xeon beside another full test suite x1.88 (x1.21-x2.92, 8 pairs): a bound of x1.15 over 12
    pairs still fails a bf16 path that silently runs fp32 (x1.0)."""
    from pytest_cpuperf.backends import torch as tb
    from pytest_cpuperf.measure.engine import EngineSettings, compare

    result = compare(ib.optimize(bert, dtype="bf16", threads=1), tb.optimize(bert, threads=1),
                     settings=EngineSettings(12, 0.4, 0.2))
    result.assert_faster(1.15)


# --- cold start (measure/coldstart.py) ----------------------------------------------------


@needs_ipex
def test_ipex_cold_start_in_fresh_processes() -> None:
    """ipex_optimize (fp32, jit) on the module _tiny_model builds, in 2 fresh processes."""
    from pytest_cpuperf.measure.coldstart import check_request, measure

    request = check_request(_tiny_model, backend="ipex", repeats=2,
                            options={"dtype": "fp32", "jit": True, "threads": 1})
    result = measure(request)
    assert all(s.build_s and s.compile_s > 0 and s.first_inference_ms > 0
               for s in result.samples)
    assert result.versions.get("intel_extension_for_pytorch", "").startswith("2.8")
    assert result.model_size_mb > 1  # tiny BERT's parameters, fp32


@pytest.mark.skipif(USABLE, reason="IPEX is usable here")
def test_ipex_cold_start_skips_naming_versions(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cold="""
def tiny():
    raise AssertionError("never built: IPEX is not usable")


def test_cold(cpuperf):
    cpuperf.cold_start(tiny, backend="ipex", repeats=2, dtype="bf16")
""")
    result = pytester.runpytest("--cpuperf", "-rs", "-vv")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*intel-extension-for-pytorch*"])
