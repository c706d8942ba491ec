"""A same-run reference: a fixed model timed between a measurement's trials.

A stored baseline carries the machine's moment of the day it was recorded; a VM's speed moves
between runs by far more than any tolerance. A reference workload timed in the same rounds as
the model under test feels that moment too, so the throughput *relative to the reference*
travels between runs where the raw throughput does not.

The reference is a fixed BERT-like model (2 layers of bert-base size, seeded weights, sequence
64), run with the measured model's own thread layout by the backend its registry row names as
its reference family: OpenVINO (dense INT8 IR, the measured model's streams and threads) for
OpenVINO and ONNX Runtime models, stock PyTorch (eager fp32, the same thread count) for PyTorch
and IPEX models. Its identity (runtime, version, layout) is stored with every sample; a
baseline whose reference differs, for example after an OpenVINO upgrade, which would move the
reference with the model, is judged on raw throughput (see judge/evaluate.py). Under
``--cpuperf-reference auto``, the default, a model of a probed family much faster than its
reference is measured without it (:func:`unlike_reference`).

This module sits above the engine: it builds references and probes rates with it; the engine
takes a :class:`~.engine.Reference` as a parameter and knows nothing of how it is built.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any, cast

from ..backends.base import CompiledModel, ReferenceModule
from ..backends.registry import Backend, by_name
from ..models import BertSpec
from ..progress import Progress
from .engine import MIN_WARMUP_WINDOW_S, STEADY_WINDOWS, timing_target_of, warm_up
from .engine import REFERENCE_TRIAL_FRACTION as REFERENCE_TRIAL_FRACTION
from .engine import Reference as Reference  # re-exported: what reference_for returns


def reference_spec() -> BertSpec:
    """2 layers of bert-base size (hidden 768, 12 heads, FFN 3072), sequence 64."""
    return BertSpec(layers=2, hidden=768, heads=12, intermediate=3072, seq_len=64)


ALIKE_RATE = 3.0
"""Under ``--cpuperf-reference auto`` (the default) a model of a probed reference family
(PyTorch, IPEX) is measured with its reference only when its rate is at most this many times
the reference's: judged relative to a much slower reference, a fast model's between-run noise
grows and slower models the raw rate catches are missed (``python -m benchmarks.reference``,
README "A same-run reference")."""


def unlike_reference(measured: CompiledModel, inputs: Any, reference: Reference,
                     settings: Any) -> str:
    """Why ``measured`` is measured without ``reference`` under ``auto``: a model of a probed
    family (its reference family's row has ``probe_reference``) whose warm-up rate is more than
    :data:`ALIKE_RATE` times its reference's; "" otherwise (other families keep theirs,
    unprobed). Both are warmed up as a measurement would (the model's warm-up then repeats,
    quickly); the reference's rate is taken once per process and layout."""
    family = _family(measured)
    if family is None or not family.probe_reference:
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
            f"ran {ratio:.1f}x the {family.name} reference's rate, and a {family.name} "
            f"reference more than {ALIKE_RATE:g}x slower was measured not to share a fast "
            f"model's moments; --cpuperf-reference true forces it")


def _family(measured: CompiledModel) -> Backend | None:
    """The registry row of ``measured``'s reference family (None for a model of no backend)."""
    try:
        return by_name(by_name(getattr(measured, "backend", "")).reference)
    except LookupError:
        return None


_RATES: dict[str, float] = {}
"""The reference's warm-up rate, by its identity (measured once per process)."""


def _warm_rate(model: CompiledModel, inputs: Any, settings: Any) -> float:
    """The median rate of the last steady-state windows of a warm-up (0.0: none)."""
    least = MIN_WARMUP_WINDOW_S * STEADY_WINDOWS
    probe = replace(settings, warmup_s=max(settings.warmup_s, least),
                    warmup_max_s=max(settings.warmup_max_s, settings.warmup_s, least))
    windows = warm_up(timing_target_of(model, inputs), probe).rates[-STEADY_WINDOWS:]
    return float(statistics.median(windows)) if windows else 0.0


_CACHE: dict[tuple[Any, ...], Reference] = {}


def reference_for(measured: CompiledModel, progress: Progress | None = None) -> Reference:
    """The reference that runs with ``measured``'s reference family and thread layout (built
    and compiled once per layout in a process)."""
    row = by_name(getattr(measured, "backend", ""))
    layout = row.hooks().reference_layout(measured)
    key = (row.reference, *layout)
    if key not in _CACHE:
        family = cast(ReferenceModule, by_name(row.reference).hooks())
        model, identity = family.build_reference(reference_spec(), layout, progress)
        _CACHE[key] = Reference(model, identity)
    return _CACHE[key]
