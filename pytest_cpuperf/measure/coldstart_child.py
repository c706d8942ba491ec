"""One cold start, in a fresh process started by :mod:`pytest_cpuperf.measure.coldstart`.

Reads a JSON request on stdin, then: imports the runtime, reads and compiles the model (timed,
as ``compile_s``), reads the process's peak resident memory (``VmHWM`` in /proc/self/status),
resets that peak by writing ``5`` to /proc/self/clear_refs (Linux 4.0+), creates a request and
runs one timed first inference on example inputs, and reads the peak again. Prints one JSON
object on stdout. Errors go to stderr with a non-zero exit code.

PyTorch and IPEX (model = a factory ``"package.module:function"``): after the import, the
factory builds the module (timed apart as ``build_s``, not counted); ``compile_s`` is
``torch_optimize`` / ``ipex_optimize`` on it (for ``jit``, trace + freeze and their two settling
runs included), so the compile peak includes the build. ``parameter_mb`` is the bytes of the
built module's parameters.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def status_mb(field: str) -> float | None:
    """A ``kB`` field of /proc/self/status (``VmHWM``, ``VmRSS``) in MiB; None off Linux."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS; False where the kernel does not allow it."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def _peak() -> float | None:
    """Peak RSS so far: ``VmHWM``, else ``ru_maxrss`` (never reset), else None."""
    peak = status_mb("VmHWM")
    if peak is not None:
        return peak
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _openvino(path: str, options: dict[str, Any]) -> Any:
    from ..backends.openvino import check_options, compile_model

    return compile_model(path, check_options(**options))


def _openvino_first(compiled: Any) -> Callable[[], Any]:
    inputs = compiled.example_inputs()
    request = compiled.compiled_model.create_infer_request()
    return lambda: request.infer(inputs)


def _onnxruntime(path: str, options: dict[str, Any]) -> Any:
    from ..backends.onnxruntime import check_options, compile_model

    return compile_model(path, check_options(**options))


def _onnxruntime_first(compiled: Any) -> Callable[[], Any]:
    feeds = compiled.check_inputs(compiled.example_inputs())
    return lambda: compiled.session.run(None, feeds)


def build(factory: str) -> Any:
    """The module a factory ``"package.module:function"`` returns."""
    import importlib

    module_name, _, function = factory.partition(":")
    built = getattr(importlib.import_module(module_name), function)()
    import torch

    if not isinstance(built, torch.nn.Module):
        raise TypeError(f"factory {factory!r} returned {type(built).__name__}, not a "
                        f"torch.nn.Module")
    return built


def parameter_mb(module: Any) -> float:
    return sum(p.numel() * p.element_size() for p in module.parameters()) / (1024.0 * 1024.0)


def _torch(module: Any, options: dict[str, Any]) -> Any:
    from ..backends.torch import optimize

    return optimize(module, **options)


def _ipex(module: Any, options: dict[str, Any]) -> Any:
    from ..backends.ipex import optimize

    return optimize(module, **options)


def _torch_first(compiled: Any) -> Callable[[], Any]:
    return compiled.timing_target(compiled.example_inputs()).call  # type: ignore[no-any-return]


IMPORTS = {"openvino": "openvino", "onnxruntime": "onnxruntime", "torch": "torch",
           "ipex": "intel_extension_for_pytorch"}
"""The module whose import is timed apart (``import_s``), not counted in ``compile_s``."""
COMPILERS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "openvino": _openvino, "onnxruntime": _onnxruntime, "torch": _torch, "ipex": _ipex}
"""Read and compile (timed): the backend's own ``compile_model``; for torch/IPEX, prepare the
built module (``torch_optimize`` / ``ipex_optimize``)."""
FIRST: dict[str, Callable[[Any], Callable[[], Any]]] = {
    "openvino": _openvino_first, "onnxruntime": _onnxruntime_first, "torch": _torch_first,
    "ipex": _torch_first}
"""Inputs and a request (untimed, after the peak reset), then the timed first inference."""


def cold_start(backend: str, path: str, options: dict[str, Any]) -> dict[str, Any]:
    """Import, (build,) compile and first-infer once; the figures as plain data."""
    import importlib

    from ..telemetry import disable_openvino_telemetry

    disable_openvino_telemetry()
    rss_start = status_mb("VmRSS")
    start = time.perf_counter()
    importlib.import_module(IMPORTS[backend])
    import_s = time.perf_counter() - start
    rss_import = status_mb("VmRSS")
    model: Any = path
    build_s = parameters = None
    if backend in ("torch", "ipex"):
        start = time.perf_counter()
        model = build(path)
        build_s = time.perf_counter() - start
        parameters = parameter_mb(model)
    start = time.perf_counter()
    compiled = COMPILERS[backend](model, options)
    compile_s = time.perf_counter() - start
    peak_compile = _peak()
    reset = reset_peak() and status_mb("VmHWM") is not None
    infer = FIRST[backend](compiled)
    start = time.perf_counter()
    infer()
    first_ms = (time.perf_counter() - start) * 1000.0
    peak_infer = _peak()
    return {"import_s": import_s, "compile_s": compile_s, "first_inference_ms": first_ms,
            "rss_start_mb": rss_start, "rss_import_mb": rss_import,
            "peak_rss_compile_mb": peak_compile, "peak_rss_infer_mb": peak_infer,
            "peak_reset": reset, "build_s": build_s, "parameter_mb": parameters,
            "versions": compiled.versions()}


def main() -> int:
    request = json.loads(sys.stdin.read())
    sys.path[:0] = [p for p in request.get("search_path", ()) if p not in sys.path]
    result = cold_start(request["backend"], request["model"], request["options"])
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
