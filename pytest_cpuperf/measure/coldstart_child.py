"""One cold start, in a fresh process started by :mod:`pytest_cpuperf.measure.coldstart`.

Reads a JSON request on stdin, then: imports the runtime, reads and compiles the model (timed,
as ``compile_s``), reads the process's peak resident memory (``VmHWM`` in /proc/self/status),
resets that peak by writing ``5`` to /proc/self/clear_refs (Linux 4.0+), creates a request and
runs one timed first inference on example inputs, and reads the peak again. Prints one JSON
object on stdout. Errors go to stderr with a non-zero exit code.

What runs is the backend's (registry row and module, :class:`~..backends.base.BackendModule`):
the import of its runtime, timed apart (``import_s``); its ``cold_compile``; its
``first_inference``. A factory backend (PyTorch, IPEX; model = ``"package.module:function"``)
builds the module after the import (``cold_build``, timed apart as ``build_s``, not counted),
so the compile peak includes the build; ``compile_s`` is ``torch_optimize`` /
``ipex_optimize`` on it (for ``jit``, trace + freeze and their two settling runs included), and
``parameter_mb`` is the bytes of the built module's parameters.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

from ..backends.base import FactoryModule
from ..backends.registry import by_name
from ..telemetry import disable_openvino_telemetry

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


def cold_start(backend: str, path: str, options: dict[str, Any]) -> dict[str, Any]:
    """Import, (build,) compile and first-infer once; the figures as plain data."""
    row = by_name(backend)
    disable_openvino_telemetry()
    rss_start = status_mb("VmRSS")
    start = time.perf_counter()
    importlib.import_module(row.runtime)
    import_s = time.perf_counter() - start
    rss_import = status_mb("VmRSS")
    model: Any = path
    build_s = parameters = None
    if not row.model_files:
        start = time.perf_counter()
        model, parameters = cast(FactoryModule, row.hooks()).cold_build(path)
        build_s = time.perf_counter() - start
    start = time.perf_counter()
    hooks = row.hooks()  # a file backend's module is imported in the compile's time
    compiled = hooks.cold_compile(model, options)
    compile_s = time.perf_counter() - start
    peak_compile = _peak()
    reset = reset_peak() and status_mb("VmHWM") is not None
    infer = hooks.first_inference(compiled)
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
