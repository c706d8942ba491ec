"""Cold start and memory: read + compile time, first inference and peak RSS, each sampled in
fresh processes.

A process compiles a model cold once; a second compile in it hits warm caches (OpenVINO's,
the allocator's, the page cache of the runtime's own libraries), and its peak memory is the
first compile's. So each sample is a fresh ``python -m pytest_cpuperf.measure.coldstart_child``
process (see there for what it measures and how it resets ``VmHWM``), run ``repeats`` times; the
per-process values are the samples the verdict compares with the baseline's, as throughput's
trials are.

Backends: OpenVINO (IR ``.xml`` with its ``.bin``, or ``.onnx``) and ONNX Runtime (``.onnx``).
PyTorch and IPEX have no model file to read cold: their "compile" is the test's own Python code
(``torch.jit.trace``, ``ipex.optimize``) and is not measured here.
"""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CpuperfUsageError

BACKENDS = {"openvino": (".xml", ".onnx"), "onnxruntime": (".onnx",)}
"""Backends a cold start runs for, and the model files each reads."""
DEFAULT_REPEATS = 5
DEFAULT_TIMEOUT_S = 600.0
CHILD = "pytest_cpuperf.measure.coldstart_child"
MIB = 1024.0 * 1024.0


class ColdStartError(RuntimeError):
    """A cold-start process failed or crashed; the message names the model and why."""


@dataclass(frozen=True)
class ColdRequest:
    """A checked cold-start request: what the fresh processes compile, and how often."""

    backend: str
    model: Path
    options: Mapping[str, Any]
    repeats: int
    timeout_s: float

    @property
    def label(self) -> str:
        """The model's file name, or its directory's for the generic ``model.xml``."""
        generic = self.model.stem in ("model", "openvino_model")
        return f"{self.model.parent.name}/{self.model.name}" if generic else self.model.name


@dataclass(frozen=True)
class ColdSample:
    """The figures of one fresh process."""

    import_s: float
    compile_s: float
    first_inference_ms: float
    rss_import_mb: float | None
    peak_rss_compile_mb: float | None
    peak_rss_infer_mb: float | None
    peak_reset: bool
    """Whether ``VmHWM`` was reset after compiling (else the inference peak includes it)."""


@dataclass(frozen=True)
class ColdStart:
    """A model's cold start over several fresh processes."""

    request: ColdRequest
    samples: tuple[ColdSample, ...]
    model_size_mb: float
    versions: Mapping[str, str]

    def values(self, field: str) -> list[float]:
        """Per-process values of one :class:`ColdSample` field (processes without it left
        out: peak RSS off Linux)."""
        values = [getattr(s, field) for s in self.samples]
        return [float(v) for v in values if v is not None]

    def median(self, field: str) -> float:
        values = self.values(field)
        return statistics.median(values) if values else float("nan")

    @property
    def peak_reset(self) -> bool:
        return all(s.peak_reset for s in self.samples)

    def describe(self) -> str:
        """``model.xml (openvino, 5 processes): compile 1.23 s [1.20-1.31], ...``."""
        def spread(field: str, unit: str, digits: int) -> str:
            values = self.values(field)
            if not values:
                return "n/a"
            return (f"{statistics.median(values):.{digits}f} {unit} "
                    f"[{min(values):.{digits}f}-{max(values):.{digits}f}]")

        text = (f"{self.request.label} ({self.request.backend}, {len(self.samples)} fresh "
                f"processes, median [min-max]): read+compile {spread('compile_s', 's', 2)}, "
                f"first inference {spread('first_inference_ms', 'ms', 1)}, peak RSS compile "
                f"{spread('peak_rss_compile_mb', 'MB', 0)}, inference "
                f"{spread('peak_rss_infer_mb', 'MB', 0)}, model {self.model_size_mb:.1f} MB")
        if not self.peak_reset:
            text += " (VmHWM could not be reset: the inference peak includes the compile's)"
        return text


def _model_path(model: object, backend: str) -> Path:
    if callable(model):
        model = model()
    if not isinstance(model, (str, Path)):
        raise CpuperfUsageError(
            f"cold_start(model=...) takes the path of a model file ({', '.join(BACKENDS[backend])}"
            f" for {backend}) or a function returning one, e.g. cold_start(build_ir(spec)); got "
            f"{type(model).__name__}. An in-memory model has no cold start to measure: save it")
    path = Path(model)
    if path.suffix.lower() not in BACKENDS[backend]:
        raise CpuperfUsageError(
            f"cold_start(model=...) for backend {backend!r} takes a "
            f"{' or '.join(BACKENDS[backend])} file, got {str(path)!r}")
    if not path.is_file():
        raise CpuperfUsageError(f"cold_start(model=...): model file {str(path)!r} does not exist")
    if path.suffix.lower() == ".xml" and not path.with_suffix(".bin").is_file():
        raise CpuperfUsageError(
            f"cold_start(model=...): IR weights {str(path.with_suffix('.bin'))!r} are missing")
    return path


def _check_options(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The backend's own checks of its compile keywords (no runtime imported)."""
    if backend == "openvino":
        from ..backends.openvino import check_options as check_ov

        check_ov(**options)
    else:
        from ..backends.onnxruntime import check_options as check_ort

        check_ort(**options)
    try:
        json.dumps(dict(options))
    except (TypeError, ValueError):
        raise CpuperfUsageError(
            f"cold_start options must be plain data (numbers, strings, lists, dicts) to reach "
            f"the fresh processes, got {dict(options)!r}") from None
    return dict(options)


def check_request(model: object, *, backend: object = "openvino", repeats: object =
                  DEFAULT_REPEATS, timeout: object = DEFAULT_TIMEOUT_S,
                  options: Mapping[str, Any] | None = None) -> ColdRequest:
    """Validate a cold-start request; a :class:`CpuperfUsageError` names the bad parameter."""
    if backend not in BACKENDS:
        raise CpuperfUsageError(
            f"cold_start(backend=...) must be one of {', '.join(map(repr, BACKENDS))}, got "
            f"{backend!r}; PyTorch and IPEX models have no file to compile cold (their "
            f"optimization is the test's own code): time it in the test instead")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise CpuperfUsageError(
            f"cold_start(repeats=...) must be an integer >= 2 (one fresh process each; the "
            f"verdict needs their spread), e.g. repeats=5; got {repeats!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise CpuperfUsageError(
            f"cold_start(timeout=...) must be a number of seconds > 0 per process, e.g. 600; "
            f"got {timeout!r}")
    checked = _check_options(str(backend), options or {})
    return ColdRequest(backend=str(backend), model=_model_path(model, str(backend)),
                       options=checked, repeats=repeats, timeout_s=float(timeout))


def model_size_mb(path: Path) -> float:
    """Bytes on disk of the model: the IR's ``.xml`` and ``.bin``, or the ONNX file and its
    external data files (siblings named after it)."""
    files = [path]
    if path.suffix.lower() == ".xml":
        files.append(path.with_suffix(".bin"))
    else:
        files += [p for p in path.parent.iterdir()
                  if p != path and p.name.startswith(path.name)]
    return sum(f.stat().st_size for f in files if f.is_file()) / MIB


def _failure(request: ColdRequest, index: int, returncode: int, stderr: str) -> ColdStartError:
    """Why process ``index`` failed, naming the model: its exit code or signal, its last
    error line."""
    if returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"was killed by signal {-returncode}"
    else:
        how = f"exited with code {returncode}"
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    reason = f": {lines[-1]}" if lines else " without an error message"
    return ColdStartError(
        f"cold start of model {str(request.model)!r} ({request.backend}): fresh process "
        f"{index + 1} of {request.repeats} {how}{reason}")


def run_once(request: ColdRequest, index: int = 0) -> tuple[ColdSample, dict[str, str]]:
    """One fresh process: its sample and the runtime versions it saw."""
    payload = json.dumps({"backend": request.backend, "model": str(request.model),
                          "options": dict(request.options)})
    try:
        done = subprocess.run([sys.executable, "-m", CHILD], input=payload, text=True,
                              capture_output=True, timeout=request.timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ColdStartError(
            f"cold start of model {str(request.model)!r} ({request.backend}): fresh process "
            f"{index + 1} of {request.repeats} took over {request.timeout_s:g} s (timeout=)"
        ) from None
    if done.returncode != 0:
        raise _failure(request, index, done.returncode, done.stderr)
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise _failure(request, index, done.returncode,
                       f"unreadable output {done.stdout[-200:]!r}") from None
    versions = {str(k): str(v) for k, v in (data.pop("versions", None) or {}).items()}
    return ColdSample(**{k: data[k] for k in ColdSample.__dataclass_fields__}), versions


def measure(request: ColdRequest, progress: Callable[[str], None] | None = None) -> ColdStart:
    """``request.repeats`` fresh processes, one after the other."""
    samples: list[ColdSample] = []
    versions: dict[str, str] = {}
    for index in range(request.repeats):
        if progress:
            progress(f"cold start {index + 1}/{request.repeats}: {request.label} "
                     f"({request.backend})")
        sample, versions = run_once(request, index)
        samples.append(sample)
    return ColdStart(request=request, samples=tuple(samples),
                     model_size_mb=model_size_mb(request.model), versions=versions)


METRICS: Sequence[tuple[str, str, str]] = (
    ("compile_s", "compile_s", "s"),
    ("first_inference_ms", "first_inference_ms", "ms"),
    ("peak_rss_compile_mb", "peak_rss_compile_mb", "MB"),
    ("peak_rss_infer_mb", "peak_rss_infer_mb", "MB"),
)
"""(metric name, :class:`ColdSample` field, unit) of the sampled, gated cold-start metrics."""
SIZE_METRIC = "model_size_mb"
"""Bytes on disk: one deterministic figure (informational; gated by ``max_model_size_mb``)."""
