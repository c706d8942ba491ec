"""``torch.compile`` (inductor) with weight freezing, and PT2E int8 quantization ahead of it.

Freezing (``torch._inductor.config.freezing``) is on only while a model compiles, never left on
for the process: dynamo reads it when it traces, so it is set around the calls that compile
(the two warm-up calls, and any call whose input shapes force a recompile).

int8 goes through torchao: ``torch.export``, ``prepare_pt2e`` with the
``X86InductorQuantizer`` (uint8 activations, per-channel int8 weights), calibration,
``convert_pt2e``; inductor's freezing passes (registered by importing torchao's quantizer)
then prepack the int8 weights for oneDNN and fuse the quantize/dequantize nodes into
``onednn.qlinear_pointwise`` calls. Importing the quantizer also sets inductor's
``pre_grad_custom_pass`` for the whole process; it is restored at once and set only while
the quantized model compiles.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch

from ..versions import package_version
from .base import BackendUnavailable

Runner = Callable[[dict[str, torch.Tensor]], Any]
Shapes = tuple[tuple[int, ...], ...]
QUANTIZER = "torchao X86InductorQuantizer"


@contextlib.contextmanager
def frozen(passes: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Inductor's freezing (and ``passes``, more inductor settings) on for the block only."""
    with torch._inductor.config.patch(freezing=True, **dict(passes or {})):
        yield


def _shapes(tensors: Mapping[str, torch.Tensor]) -> Shapes:
    return tuple(tuple(t.shape) for t in tensors.values())


def compile_frozen(module: torch.nn.Module, tensors: dict[str, torch.Tensor],
                   context: Callable[[], contextlib.AbstractContextManager[Any]], *,
                   positional: Sequence[str] | None = None,
                   passes: Mapping[str, Any] | None = None) -> Runner:
    """``torch.compile(module)`` compiled now, with freezing, by two calls on ``tensors``
    under ``context`` (autocast or nothing); inputs go by keyword, or by position in
    ``positional`` order. The runner compiles new input shapes with freezing too."""
    compiled = torch.compile(module, dynamic=False)
    names = tuple(positional) if positional is not None else None

    def call(inputs: dict[str, torch.Tensor]) -> Any:
        if names is None:
            return compiled(**inputs)
        return compiled(*(inputs[n] for n in names))

    with torch.no_grad(), context(), frozen(passes):
        for _ in range(2):  # compile (and freeze weights) now, not in the timed warm-up
            call(tensors)
    compiled_shapes = _shapes(tensors)

    def run(inputs: dict[str, torch.Tensor]) -> Any:
        if _shapes(inputs) == compiled_shapes:
            return call(inputs)
        with frozen(passes):  # a new shape recompiles: with freezing, as the first did
            return call(inputs)

    return run


def require_torchao() -> str:
    """torchao's version; :class:`BackendUnavailable` when it is not installed."""
    version = package_version("torchao")
    if version is None:
        raise BackendUnavailable(
            "dtype='int8' quantizes with torchao, which is not installed "
            "(pip install 'pytest-cpuperf[torch]')")
    return version


def quantize_pt2e(module: torch.nn.Module, args: tuple[torch.Tensor, ...],
                  batches: Sequence[tuple[torch.Tensor, ...]], quantization: str
                  ) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(quantized module, inductor passes to compile it with)``: ``module`` exported on
    ``args``, annotated by the X86InductorQuantizer (``static`` or ``dynamic`` activation
    scales), run on ``batches`` (static: calibration; dynamic: weight observers only) and
    converted to quantize/dequantize form."""
    saved = torch._inductor.config.pre_grad_custom_pass
    try:
        from torchao.quantization.pt2e.inductor_passes.x86 import quant_lift_up
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    finally:
        torch._inductor.config.pre_grad_custom_pass = saved
    config = xiq.get_default_x86_inductor_quantization_config(
        is_dynamic=quantization == "dynamic")
    quantizer = xiq.X86InductorQuantizer().set_global(config)
    with torch.no_grad():
        exported = torch.export.export(module, args, strict=False).module()
        prepared = prepare_pt2e(exported, quantizer)
        for batch in batches:
            prepared(*batch)
        converted = convert_pt2e(prepared)
    return converted, {"pre_grad_custom_pass": quant_lift_up}
