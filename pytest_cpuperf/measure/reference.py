"""A same-run reference: a fixed model timed between a measurement's trials.

A stored baseline carries the machine's moment of the day it was recorded; a VM's speed moves
between runs by far more than any tolerance (measured here: dense INT8 bert-base 106-172
samples/s within an hour, with under 2% of the CPU taken by other work). A reference workload
timed in the same rounds as the model under test feels that moment too, so the throughput
*relative to the reference* travels between runs where the raw throughput does not.

The reference is a fixed BERT-like model (2 layers of bert-base size, seeded weights, sequence
64), run with the measured model's own thread layout: through OpenVINO (dense INT8 IR, the
measured model's streams and threads) for OpenVINO and ONNX Runtime models, through stock
PyTorch (eager fp32, the same thread count) for PyTorch and IPEX models. Its identity (runtime,
version, layout) is stored with every sample; a baseline whose reference differs, for example
after an OpenVINO upgrade, which would move the reference with the model, is judged on raw
throughput (see judge/evaluate.py). Under ``--cpuperf-reference auto``, the default, a PyTorch or
IPEX model much faster than the torch reference is measured without it
(:func:`unlike_reference`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends.base import CompiledModel

REFERENCE_TRIAL_FRACTION = 0.5
"""A reference trial lasts this share of the measured trial (it measures the moment, not the
model: half the time costs a third more measuring time)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Reference:
    """A compiled reference model and what identifies it (stored with its samples)."""

    model: CompiledModel
    identity: str


def reference_spec() -> Any:
    """2 layers of bert-base size (hidden 768, 12 heads, FFN 3072), sequence 64."""
    from ..models import BertSpec

    return BertSpec(layers=2, hidden=768, heads=12, intermediate=3072, seq_len=64)


ALIKE_RATE = 3.0
"""Under ``--cpuperf-reference auto`` (the default) a PyTorch or IPEX model is measured with the
torch reference only when its rate is at most this many times the reference's. Measured here
(``python -m benchmarks.reference``, README "A same-run reference"): judging relative to the
reference cut the between-run noise for bert-base through OpenVINO and through PyTorch (about a
sixth of the reference's rate) and for a tiny BERT through OpenVINO (7x its rate); for a tiny
BERT through PyTorch (8-12x) it added noise and missed slower models the raw rate caught."""
TORCH_FAMILY = ("torch", "ipex")
"""Backends measured against the torch reference (eager fp32), the one that can be unlike."""


def unlike_reference(measured: CompiledModel, inputs: Any, reference: Reference,
                     settings: Any) -> str:
    """Why ``measured`` is measured without ``reference`` under ``auto``: a PyTorch or IPEX
    model whose warm-up rate is more than :data:`ALIKE_RATE` times the torch reference's; ""
    otherwise (OpenVINO and ONNX Runtime models keep theirs, unprobed). Both are warmed up as a
    measurement would (the model's warm-up then repeats, quickly); the reference's rate is
    taken once per process and layout."""
    if getattr(measured, "backend", "") not in TORCH_FAMILY:
        return ""
    if reference.identity not in _RATES:
        _RATES[reference.identity] = _warm_rate(reference.model, None, settings)
    model_rate, reference_rate = _warm_rate(measured, inputs, settings), _RATES[reference.identity]
    if not (model_rate > 0 and reference_rate > 0):
        return ""
    ratio = model_rate / reference_rate
    if ratio <= ALIKE_RATE:
        return ""
    return (f"measured without the same-run reference (--cpuperf-reference auto): this model "
            f"ran {ratio:.1f}x the torch reference's rate, and a torch reference more than "
            f"{ALIKE_RATE:g}x slower was measured not to share a fast model's moments; "
            f"--cpuperf-reference true forces it")


_RATES: dict[str, float] = {}
"""The reference's warm-up rate, by its identity (measured once per process)."""


def _warm_rate(model: CompiledModel, inputs: Any, settings: Any) -> float:
    """The median rate of the last steady-state windows of a warm-up (0.0: none)."""
    import statistics
    from dataclasses import replace

    from .engine import MIN_WARMUP_WINDOW_S, STEADY_WINDOWS, timing_target_of, warm_up

    least = MIN_WARMUP_WINDOW_S * STEADY_WINDOWS
    probe = replace(settings, warmup_s=max(settings.warmup_s, least),
                    warmup_max_s=max(settings.warmup_max_s, settings.warmup_s, least))
    windows = warm_up(timing_target_of(model, inputs), probe).rates[-STEADY_WINDOWS:]
    return float(statistics.median(windows)) if windows else 0.0


_CACHE: dict[tuple[str, Any, Any], Reference] = {}


def reference_for(measured: CompiledModel, progress: Progress | None = None) -> Reference:
    """The reference that runs with ``measured``'s runtime family and thread layout (built and
    compiled once per layout in a process)."""
    backend = getattr(measured, "backend", "")
    if backend in ("torch", "ipex"):
        threads = getattr(measured, "threads", None)
        from ..backends.torch import default_threads

        key: tuple[str, Any, Any] = ("torch", threads or default_threads(), None)
        if key not in _CACHE:
            _CACHE[key] = _torch_reference(key[1])
        return _CACHE[key]
    config = measured.effective_config()
    streams = _int_or_none(config.get("NUM_STREAMS"))
    threads = _int_or_none(config.get("INFERENCE_NUM_THREADS"))
    if backend == "onnxruntime":
        threads = _int_or_none(config.get("intra_op_num_threads")) or threads
        streams = streams or 1
    key = ("openvino", streams, threads)
    if key not in _CACHE:
        _CACHE[key] = _openvino_reference(streams, threads, progress)
    return _CACHE[key]


def _int_or_none(value: object) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _openvino_reference(streams: int | None, threads: int | None,
                        progress: Progress | None) -> Reference:
    from ..backends.openvino import check_options, compile_model
    from ..models import build_ir
    from ..versions import package_version

    if progress is not None:
        progress("same-run reference: a 2-layer BERT (int8, seq 64) measured beside every "
                 "model to cancel the machine's drift; built once, then cached "
                 "(--cpuperf-reference false skips it)")
    path = build_ir(reference_spec(), sparsity=0.0, int8=True, progress=progress)
    options = check_options(streams=streams, threads=threads, label="reference")
    compiled = compile_model(path, options)
    layout = (f"{compiled.property('NUM_STREAMS')} streams x "
              f"{compiled.property('INFERENCE_NUM_THREADS')} threads")
    return Reference(compiled, f"openvino {package_version('openvino')} bert 2x768 int8 seq64, "
                               f"{layout}")


def _torch_reference(threads: int) -> Reference:
    from ..backends.torch import optimize
    from ..models.bert import build_torch_bert
    from ..versions import package_version

    model = build_torch_bert(reference_spec())
    compiled = optimize(model, mode="eager", dtype="fp32", threads=threads, label="reference")
    return Reference(compiled, f"torch {package_version('torch')} bert 2x768 fp32 eager seq64, "
                               f"{threads} threads")
