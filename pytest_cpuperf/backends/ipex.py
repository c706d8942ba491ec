"""Intel Extension for PyTorch backend: ``ipex.optimize``, bf16 autocast, jit trace + freeze,
and int8 static quantization.

IPEX works only with the torch of its own major.minor and *exits the process* when imported
next to another one, so :func:`ipex_status` decides from package metadata alone, and nothing
imports ``intel_extension_for_pytorch`` (or even torch) at this module's import time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CpuperfUsageError
from ..progress import Progress
from ..versions import package_version
from .base import (
    BackendUnavailable,
    CompiledModel,
    check_calibration,
    check_choice,
    check_label,
    check_threads,
    default_label,
    generate_inputs,
    to_array,
)

__all__ = ["BackendUnavailable", "cold_build", "cold_compile", "first_inference", "ipex_status",
           "optimize", "reference_layout"]

if TYPE_CHECKING:
    import numpy as np

    from .torch import TorchCompiled

IPEX_DIST = "intel-extension-for-pytorch"
DTYPES = ("fp32", "bf16", "int8")
CALIBRATION_BATCHES = 8
"""Generated calibration batches for int8 when none are given."""


def _major_minor(text: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def ipex_status() -> tuple[bool, str]:
    """``(usable, reason)`` from package metadata only: IPEX installed, torch of its major.minor.

    Never imports torch or IPEX (IPEX calls ``exit()`` on a torch mismatch).
    """
    ipex_version = package_version(IPEX_DIST)
    torch_version = package_version("torch")
    if ipex_version is None:
        found = f"torch {torch_version}" if torch_version else "no torch"
        return False, (f"{IPEX_DIST} is not installed (found {found}); install "
                       f"{IPEX_DIST}==2.8.0 with torch==2.8.*, e.g. `tox -e ipex`")
    need = _major_minor(ipex_version)
    if need is None:
        return False, f"cannot read the version of {IPEX_DIST} ({ipex_version!r})"
    required = f"torch {need[0]}.{need[1]}.*"
    if torch_version is None:
        return False, f"{IPEX_DIST} {ipex_version} needs {required}, but torch is not installed"
    if _major_minor(torch_version) != need:
        return False, f"{IPEX_DIST} {ipex_version} needs {required}, found torch {torch_version}"
    return True, f"{IPEX_DIST} {ipex_version} with torch {torch_version}"


def require_ipex() -> None:
    """Raise :class:`BackendUnavailable` with :func:`ipex_status`'s reason when IPEX can't run."""
    usable, reason = ipex_status()
    if not usable:
        raise BackendUnavailable(reason)


def make_optimizer(progress: Progress) -> Callable[..., TorchCompiled]:
    """The ``ipex_optimize`` fixture's value (the registry's factory)."""
    return optimize


def optimize(model: object, *, dtype: object = "fp32", jit: object = True,
             example_inputs: object = None, calibration: object = None,
             threads: object = None, label: object = None) -> TorchCompiled:
    """Prepare ``model`` with IPEX: ``ipex.optimize`` (fp32/bf16, bf16 under CPU autocast) and,
    with ``jit``, ``torch.jit.trace`` + ``torch.jit.freeze``; ``int8`` is IPEX static
    quantization calibrated on ``calibration`` (input dicts) or generated batches.

    Raises :class:`BackendUnavailable` when IPEX does not match the installed torch.
    """
    from . import torch as tb

    dtype = check_choice("dtype", dtype, DTYPES)
    if not isinstance(jit, bool):
        raise CpuperfUsageError(f"jit must be True or False, got {jit!r}")
    if dtype == "int8" and not jit:
        raise CpuperfUsageError(
            "jit must be True for dtype='int8': IPEX static quantization runs traced models")
    threads = check_threads(threads)
    label = check_label(label)
    require_ipex()
    module = tb.check_model(model, "ipex_optimize").eval()
    examples, generated = tb.resolve_examples(module, example_inputs)
    batches = check_calibration(calibration, tuple(examples))
    import torch

    torch.set_num_threads(threads or tb.default_threads())  # compile with the count it will run
    ipex = _import_ipex()
    names = tuple(examples)
    wrapped = tb.LogitsModule(module, names).eval()
    if dtype == "int8":
        calib = batches or _generated_batches(tb, examples, generated, module)
        runner = tb.positional_runner(_quantize(ipex, tb, wrapped, examples, calib), names)
        qconfig = "default_static_qconfig_mapping"
    else:
        optimized = ipex.optimize(wrapped, dtype=torch.bfloat16 if dtype == "bf16"
                                  else torch.float32)
        if jit:
            optimized = tb.trace_and_freeze(optimized, examples, dtype)
        runner = tb.positional_runner(optimized, names)
        qconfig = None
    return tb.TorchCompiled(
        runner=runner, examples=examples, generated=generated, vocab=tb.vocab_size(module),
        mode="jit" if jit else "eager", dtype=dtype, threads=threads,
        label=label or default_label("ipex", "jit" if jit else "eager", dtype,
                                         f"t{threads}" if threads else None),
        backend="ipex",
        extra_config={"ipex": ipex.__version__, "jit": jit, "qconfig": qconfig,
                      "calibration_batches": len(batches or []) or
                      (CALIBRATION_BATCHES if dtype == "int8" else None)},
        extra_versions={"intel_extension_for_pytorch": str(ipex.__version__).split("+")[0]},
        extra_verbose=lambda: [ipex.verbose(ipex.VERBOSE_ON)],
    )


def _import_ipex() -> Any:
    try:
        import intel_extension_for_pytorch as ipex
    except ImportError as exc:  # e.g. a broken wheel or missing system library
        raise BackendUnavailable(f"cannot import {IPEX_DIST}: {exc}") from exc
    return ipex


def _generated_batches(tb: Any, examples: dict[str, np.ndarray], generated: bool,
                       module: Any) -> list[dict[str, np.ndarray]]:
    if not generated:
        return [examples]
    shape = next(iter(examples.values())).shape
    return [generate_inputs(tuple(examples), (shape[0], shape[1]), tb.vocab_size(module),
                               seed=1000 + i) for i in range(CALIBRATION_BATCHES)]


def _quantize(ipex: Any, tb: Any, wrapped: Any, examples: dict[str, np.ndarray],
              batches: list[dict[str, Any]]) -> Any:
    """IPEX static int8: prepare (default static qconfig), calibrate, convert, trace, freeze."""
    import numpy as np
    import torch
    from intel_extension_for_pytorch.quantization import convert, prepare

    def tensors(batch: Mapping[str, Any]) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(np.ascontiguousarray(to_array(n, batch[n])))
                     for n in examples)

    qconfig = ipex.quantization.default_static_qconfig_mapping
    with torch.no_grad():
        prepared = prepare(wrapped, qconfig, example_inputs=tensors(examples), inplace=False)
        for batch in batches:
            prepared(*tensors(batch))
        converted = convert(prepared)
    return tb.trace_and_freeze(converted, examples, "int8")


# --- the registry's seams: cold start, same-run reference (base.BackendModule) --------------
# IPEX prepares a PyTorch module: it builds, runs and lays out its reference as torch does.


def cold_build(factory: str) -> tuple[Any, float]:
    from . import torch as tb

    return tb.cold_build(factory)


def cold_compile(model: Any, options: dict[str, Any]) -> TorchCompiled:
    return optimize(model, **options)


def first_inference(compiled: TorchCompiled) -> Callable[[], Any]:
    from . import torch as tb

    return tb.first_inference(compiled)


def reference_layout(measured: CompiledModel) -> tuple[int]:
    from . import torch as tb

    return tb.reference_layout(measured)
