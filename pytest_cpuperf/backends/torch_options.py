"""``torch_optimize``'s keyword choices and the combinations it refuses, without torch.

The fixture checks them before anything compiles, and a cold start checks them before it
starts a fresh process (the registry row imports this module, never torch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import CpuperfUsageError
from .base import check_choice

MODES = ("eager", "jit", "compile")
DTYPES = ("fp32", "bf16", "int8")
QUANTIZATIONS = ("static", "dynamic")
"""int8 activations: ``static`` scales calibrated on inputs, ``dynamic`` scales per call."""


def check_combination(mode: object, dtype: object, quantization: object = None,
                      calibration: object = None) -> tuple[str, str, str | None]:
    """``(mode, dtype, quantization)`` checked together; ``quantization`` is ``static`` by
    default for ``int8`` and None otherwise. :class:`CpuperfUsageError` names the keyword and
    the fix."""
    mode = check_choice("mode", mode, MODES)
    dtype = check_choice("dtype", dtype, DTYPES)
    if quantization is not None:
        quantization = check_choice("quantization", quantization, QUANTIZATIONS)
    if dtype != "int8":
        if quantization is not None:
            raise CpuperfUsageError(
                f"quantization applies to dtype='int8' only, got quantization="
                f"{quantization!r} with dtype={dtype!r}: drop quantization or pass "
                f"dtype='int8'")
        if calibration is not None:
            raise CpuperfUsageError(
                f"calibration applies to dtype='int8' only, got it with dtype={dtype!r}: drop "
                f"calibration or pass dtype='int8'")
        return mode, dtype, None
    if mode != "compile":
        raise CpuperfUsageError(
            f"mode must be 'compile' for dtype='int8', got {mode!r}: PT2E int8 kernels run "
            f"only through inductor (torch.compile); pass mode='compile'")
    quantization = quantization or "static"
    if quantization == "dynamic" and calibration is not None:
        raise CpuperfUsageError(
            "calibration applies to quantization='static' only: dynamic quantization computes "
            "activation scales on every call; drop calibration or pass quantization='static'")
    return mode, dtype, quantization


def check_options(options: Mapping[str, Any]) -> None:
    """:func:`check_combination` on a cold start's ``torch_optimize`` keywords."""
    check_combination(options.get("mode", "eager"), options.get("dtype", "fp32"),
                      options.get("quantization"), options.get("calibration"))
