"""Cold start and memory: read + compile time, first inference and peak RSS, each sampled in
fresh processes.

A process compiles a model cold once; a second compile in it hits warm caches (OpenVINO's,
the allocator's, the page cache of the runtime's own libraries), and its peak memory is the
first compile's. So each sample is a fresh ``python -m pytest_cpuperf.measure.coldstart_child``
process (see there for what it measures and how it resets ``VmHWM``), run ``repeats`` times; the
per-process values are the samples the verdict compares with the baseline's, as throughput's
trials are.

Each backend's registry row says what its cold start takes: a file backend (OpenVINO: IR
``.xml`` with its ``.bin``, or ``.onnx``; ONNX Runtime: ``.onnx``) reads a model file. A factory
backend (PyTorch, IPEX) has none: its model is a *factory*, an importable
``"package.module:function"`` (or a module-level function, turned into that string) returning a
``torch.nn.Module``; each process builds the module with it (``build_s``, informational) and
times ``torch_optimize``/``ipex_optimize`` on it (jit trace + freeze included) as ``compile_s``.
Its model size is the bytes of the built module's parameters, not a file.
"""

from __future__ import annotations

import importlib
import json
import re
import signal
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backends.base import Companion
from ..backends.registry import Backend, by_name, cold_start_backends
from ..errors import CpuperfUsageError
from ..progress import Progress

BACKENDS = tuple(b.name for b in cold_start_backends())
"""Backends a cold start runs for."""
_FACTORY = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")
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
    model: Path | str
    """A model file, or for a factory backend a factory ``"package.module:function"``."""
    options: Mapping[str, Any]
    repeats: int
    timeout_s: float
    search_path: tuple[str, ...] = ()
    """Directories the fresh process adds to ``sys.path`` to import the factory's module."""

    @property
    def label(self) -> str:
        """The model's file name, or its directory's for the generic ``model.xml``; the
        factory for a factory backend."""
        if isinstance(self.model, str):
            return self.model
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
    build_s: float | None = None
    """A factory backend: the factory's call (building the module), before ``compile_s``."""
    parameter_mb: float | None = None
    """A factory backend: bytes of the built module's parameters (MiB)."""


@dataclass(frozen=True)
class ColdStart:
    """A model's cold start over several fresh processes."""

    request: ColdRequest
    samples: tuple[ColdSample, ...]
    model_size_mb: float
    """Bytes on disk of the model file; for a factory backend, of the built module's parameters."""
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

    def spread(self, field: str, digits: int, unit: str = "") -> str:
        """``1.23 s [1.20-1.31]``: the median of ``field`` over the processes, and its range."""
        values = self.values(field)
        if not values:
            return "n/a"
        unit = f" {unit}" if unit else ""
        return (f"{statistics.median(values):.{digits}f}{unit} "
                f"[{min(values):.{digits}f}-{max(values):.{digits}f}]")

    def describe(self) -> str:
        """``model.xml (openvino, 5 processes): compile 1.23 s [1.20-1.31], ...``."""
        spread = self.spread
        text = (f"{self.request.label} ({self.request.backend}, {len(self.samples)} fresh "
                f"processes, median [min-max]): read+compile {spread('compile_s', 2, 's')}, "
                f"first inference {spread('first_inference_ms', 1, 'ms')}, peak RSS compile "
                f"{spread('peak_rss_compile_mb', 0, 'MB')}, inference "
                f"{spread('peak_rss_infer_mb', 0, 'MB')}, ")
        if isinstance(self.request.model, str):
            text = text.replace("read+compile", "prepare", 1)
            text += (f"parameters {self.model_size_mb:.1f} MB (build "
                     f"{spread('build_s', 2, 's')}, not counted)")
        else:
            text += f"model {self.model_size_mb:.1f} MB"
        if not self.peak_reset:
            text += " (VmHWM could not be reset: the inference peak includes the compile's)"
        return text


def _model_path(model: object, row: Backend) -> Path:
    backend = row.name
    if callable(model):
        model = model()
    if not isinstance(model, (str, Path)):
        raise CpuperfUsageError(
            f"cold_start(model=...) takes the path of a model file "
            f"({', '.join(row.model_files)}"
            f" for {backend}) or a function returning one, e.g. cold_start(build_ir(spec)); got "
            f"{type(model).__name__}. An in-memory model has no cold start to measure: save it")
    path = Path(model)
    if path.suffix.lower() not in row.model_files:
        raise CpuperfUsageError(
            f"cold_start(model=...) for backend {backend!r} takes a "
            f"{' or '.join(row.model_files)} file, got {str(path)!r}")
    if not path.is_file():
        raise CpuperfUsageError(f"cold_start(model=...): model file {str(path)!r} does not exist")
    companion = _companion(path, row.companions)
    if companion is not None and not path.with_suffix(companion.sibling).is_file():
        raise CpuperfUsageError(
            f"cold_start(model=...): {companion.what} "
            f"{str(path.with_suffix(companion.sibling))!r} are missing")
    return path


def _companion(path: Path, companions: Sequence[Companion]) -> Companion | None:
    """The file that must sit beside ``path``, by its ending."""
    return next((c for c in companions if path.suffix.lower() == c.ending), None)


def _factory_name(model: object, backend: str) -> str:
    """``"package.module:function"`` of a factory given as that string or as the function."""
    fix = ("pass the function that builds the torch.nn.Module, defined at the top level of an "
           "importable module, or its name as 'package.module:function'")
    if isinstance(model, str):
        return model
    if not callable(model):
        raise CpuperfUsageError(
            f"cold_start(model=...) for backend {backend!r} takes a factory, not "
            f"{type(model).__name__}: {fix} (each fresh process imports it and builds the model)")
    module = getattr(model, "__module__", None)
    qualname = str(getattr(model, "__qualname__", ""))
    if module == "__main__":  # a script run with ``python -m package.module``
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = getattr(spec, "name", None)
    if not module or not qualname.isidentifier():
        raise CpuperfUsageError(
            f"cold_start(model=...) for backend {backend!r}: {qualname or model!r} cannot be "
            f"imported by a fresh process (a lambda, a nested function, a method, or a "
            f"script's function): {fix}")
    return f"{module}:{qualname}"


def _import_root(module: Any, name: str) -> tuple[str, ...]:
    """The directory from which ``import name`` finds ``module`` (pytest puts test
    directories on ``sys.path``; the fresh process gets them this way)."""
    file = getattr(module, "__file__", None)
    if not file:
        return ()
    path = Path(file).absolute()
    depth = name.count(".") + (1 if path.name == "__init__.py" else 0)
    return (str(path.parents[depth]),) if depth < len(path.parents) else ()


def _factory(model: object, backend: str) -> tuple[str, tuple[str, ...]]:
    """The checked factory string and the directory its module is imported from: importable
    and callable here, before any process starts (it is not called: that is the process's)."""
    name = _factory_name(model, backend)
    match = _FACTORY.match(name)
    if not match:
        raise CpuperfUsageError(
            f"cold_start(model=...) for backend {backend!r} takes a factory "
            f"'package.module:function' (or the function itself), got {name!r}")
    module_name, function = match.groups()
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is the user's to fix
        raise CpuperfUsageError(
            f"cold_start(model={name!r}): cannot import {module_name!r} "
            f"({type(exc).__name__}: {exc}); make it importable (on sys.path) or pass the "
            f"function itself") from None
    if not callable(getattr(module, function, None)):
        raise CpuperfUsageError(
            f"cold_start(model={name!r}): {module_name!r} has no function {function!r}; name "
            f"a top-level function that returns the torch.nn.Module")
    return name, _import_root(module, module_name)


def _check_options(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The backend's own checks of its compile keywords (no runtime imported)."""
    by_name(backend).check_cold_options(options)
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
            f"{backend!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise CpuperfUsageError(
            f"cold_start(repeats=...) must be an integer >= 2 (one fresh process each; the "
            f"verdict needs their spread), e.g. repeats=5; got {repeats!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise CpuperfUsageError(
            f"cold_start(timeout=...) must be a number of seconds > 0 per process, e.g. 600; "
            f"got {timeout!r}")
    checked = _check_options(str(backend), options or {})
    row = by_name(str(backend))
    if not row.model_files:
        row.require()  # BackendUnavailable, with the reason, before any process
        factory, search_path = _factory(model, str(backend))
        return ColdRequest(backend=str(backend), model=factory, options=checked,
                           repeats=repeats, timeout_s=float(timeout), search_path=search_path)
    return ColdRequest(backend=str(backend), model=_model_path(model, row),
                       options=checked, repeats=repeats, timeout_s=float(timeout))


def model_size_mb(path: Path, companions: Sequence[Companion] = ()) -> float:
    """Bytes on disk of the model: the file and its companion (an IR's ``.bin``), or the file
    and its external data files (siblings named after it: ONNX)."""
    files = [path]
    companion = _companion(path, companions)
    if companion is not None:
        files.append(path.with_suffix(companion.sibling))
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
                          "options": dict(request.options),
                          "search_path": list(request.search_path)})
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
    return ColdSample(**{k: data.get(k) for k in ColdSample.__dataclass_fields__}), versions


def measure(request: ColdRequest, progress: Progress | None = None) -> ColdStart:
    """``request.repeats`` fresh processes, one after the other."""
    samples: list[ColdSample] = []
    versions: dict[str, str] = {}
    for index in range(request.repeats):
        if progress:
            progress(f"cold start {index + 1}/{request.repeats}: {request.label} "
                     f"({request.backend})")
        sample, versions = run_once(request, index)
        samples.append(sample)
    if isinstance(request.model, str):
        sizes = [s.parameter_mb for s in samples if s.parameter_mb is not None]
        size = statistics.median(sizes) if sizes else float("nan")
    else:
        size = model_size_mb(request.model, by_name(request.backend).companions)
    return ColdStart(request=request, samples=tuple(samples), model_size_mb=size,
                     versions=versions)


METRICS: Sequence[tuple[str, str, str]] = (
    ("compile_s", "compile_s", "s"),
    ("first_inference_ms", "first_inference_ms", "ms"),
    ("peak_rss_compile_mb", "peak_rss_compile_mb", "MB"),
    ("peak_rss_infer_mb", "peak_rss_infer_mb", "MB"),
)
"""(metric name, :class:`ColdSample` field, unit) of the sampled, gated cold-start metrics."""
SIZE_METRIC = "model_size_mb"
"""Bytes on disk (a factory backend: of the module's parameters): one deterministic figure
(informational; gated by ``max_model_size_mb``)."""
