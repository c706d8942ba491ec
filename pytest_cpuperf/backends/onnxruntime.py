"""ONNX Runtime backend (CPU execution provider): a session in a named configuration.

Keywords are checked before ``onnxruntime`` is imported; the model is loaded only after. The
timed call runs one inference on inputs prepared once (:class:`SyncTarget`). ORT exposes no
kernel names, so :meth:`ORTCompiled.kernels` summarizes the op types its profiler saw in one
untimed inference of a separate profiled session.
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CpuperfUsageError
from ..progress import Progress
from ..records.kernels import KernelReport
from .base import (
    ArtifactSource,
    CompiledModel,
    Inputs,
    SyncTarget,
    check_input_names,
    positive_int_or_none,
    predict_in_chunks,
    token_input,
)
from .openvino import parse_shape

GRAPH_OPTIMIZATIONS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED",
                       "basic": "ORT_ENABLE_BASIC", "disabled": "ORT_DISABLE_ALL"}
EXECUTION_MODES = {"sequential": "ORT_SEQUENTIAL", "parallel": "ORT_PARALLEL"}
CPU_PROVIDER = "CPUExecutionProvider"
MATMUL_OPS = frozenset({
    "MatMul", "FusedMatMul", "Gemm", "FusedGemm", "MatMulInteger", "MatMulIntegerToFloat",
    "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulNBits", "Attention", "QAttention",
    "MultiHeadAttention", "QGemm"})
"""Op types that multiply by a weight matrix (attention ops included), counted as matmuls."""
_DTYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32,
           "tensor(float16)": np.float16, "tensor(double)": np.float64, "tensor(bool)": np.bool_}
INSTALL_HINT = 'pip install "pytest-cpuperf[onnxruntime]"'


def ort_status(module: str = "onnxruntime") -> tuple[bool, str]:
    """``(True, "")`` when ``module`` can be imported, else ``(False, reason)``; never imports."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return True, ""
    return False, f"ONNX Runtime backend unavailable: {module!r} is not installed ({INSTALL_HINT})"


# --- argument checking (no onnxruntime import) -------------------------------------------


@dataclass(frozen=True)
class ORTOptions:
    """The checked keywords of ``ort_compile``; hashable, so equal calls share one session."""

    threads: int | None = None
    inter_op_threads: int | None = None
    graph_optimization: str = "all"
    execution_mode: str = "sequential"
    shape: tuple[tuple[str, tuple[int, ...]], ...] = ()
    label: str | None = None
    session_options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        """``threads=2 opt=all`` style summary."""
        parts = [f"threads={self.threads}"] if self.threads is not None else []
        if self.inter_op_threads is not None:
            parts.append(f"inter_op={self.inter_op_threads}")
        parts.append(f"opt={self.graph_optimization}")
        if self.execution_mode != "sequential":
            parts.append(self.execution_mode)
        return " ".join(parts)


def _check_count(name: str, value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise CpuperfUsageError(f"{name} must be an integer >= 1 or None, got {value!r}")
    return value  # type: ignore[return-value]


def _check_choice(name: str, value: object, choices: Mapping[str, str]) -> str:
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise CpuperfUsageError(
        f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_providers(providers: object) -> None:
    if providers is None:
        return
    if isinstance(providers, str) or not isinstance(providers, Sequence) or not providers:
        raise CpuperfUsageError(
            f"providers must be None or a list such as [{CPU_PROVIDER!r}], got {providers!r}")
    other = [p for p in providers if p != CPU_PROVIDER]
    if other:
        raise CpuperfUsageError(
            f"providers: ort_compile runs on {CPU_PROVIDER!r} only, got {other!r}; "
            f"pass providers=None")


def _static_shape(shape: object) -> tuple[tuple[str, tuple[int, ...]], ...]:
    items = []
    for name, dims in parse_shape(shape):
        parts = [d.strip() for d in dims.split(",")]
        if not all(p.isdigit() and int(p) >= 1 for p in parts):
            raise CpuperfUsageError(
                f"shape for input {name or '<all>'!r} must be static positive dims such as "
                f"[1, 64], got [{dims}]")
        items.append((name, tuple(int(p) for p in parts)))
    return tuple(items)


def _check_session_options(options: object) -> tuple[tuple[str, Any], ...]:
    if options is None:
        return ()
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise CpuperfUsageError(
            "session_options must be a dict of onnxruntime.SessionOptions attributes "
            "(e.g. {'enable_cpu_mem_arena': False}) or config entries "
            f"(e.g. {{'session.intra_op.allow_spinning': '0'}}), got {options!r}")
    for key, value in options.items():
        if not isinstance(value, (bool, int, float, str)):
            raise CpuperfUsageError(
                f"session_options[{key!r}] must be a bool, number or string, got {value!r}")
    return tuple(sorted(options.items()))


def check_options(*, threads: object = None, inter_op_threads: object = None,
                  graph_optimization: object = "all", execution_mode: object = "sequential",
                  providers: object = None, shape: object = None, label: object = None,
                  session_options: object = None) -> ORTOptions:
    """Validate ``ort_compile`` keywords; raise :class:`CpuperfUsageError` naming the bad one."""
    _check_providers(providers)
    if label is not None and not isinstance(label, str):
        raise CpuperfUsageError(f"label must be a string, got {label!r}")
    return ORTOptions(
        threads=_check_count("threads", threads),
        inter_op_threads=_check_count("inter_op_threads", inter_op_threads),
        graph_optimization=_check_choice("graph_optimization", graph_optimization,
                                         GRAPH_OPTIMIZATIONS),
        execution_mode=_check_choice("execution_mode", execution_mode, EXECUTION_MODES),
        shape=_static_shape(shape),
        label=label,
        session_options=_check_session_options(session_options),
    )


def model_source(model: object) -> tuple[Path | None, bytes | None]:
    """``(path, None)`` for an existing file, ``(None, bytes)`` for bytes or a ModelProto."""
    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file():
            raise CpuperfUsageError(f"model file {str(path)!r} does not exist (or is not a file)")
        return path, None
    if isinstance(model, (bytes, bytearray)):
        return None, bytes(model)
    if type(model).__name__ == "ModelProto" and hasattr(model, "SerializeToString"):
        return None, model.SerializeToString()
    raise CpuperfUsageError(
        f"model must be the path of an .onnx file, its bytes or an onnx.ModelProto, got "
        f"{type(model).__name__}")


# --- session ----------------------------------------------------------------------------


def session_options(options: ORTOptions, profile_prefix: str | None = None) -> Any:
    """``onnxruntime.SessionOptions`` for ``options`` (profiling on when a prefix is given)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = options.threads or 0
    opts.inter_op_num_threads = options.inter_op_threads or 0
    opts.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, GRAPH_OPTIMIZATIONS[options.graph_optimization])
    opts.execution_mode = getattr(ort.ExecutionMode, EXECUTION_MODES[options.execution_mode])
    for key, value in options.session_options:
        if "." in key:
            opts.add_session_config_entry(key, str(value))
        elif hasattr(opts, key) and not callable(getattr(opts, key)):
            setattr(opts, key, value)
        else:
            raise CpuperfUsageError(
                f"session_options[{key!r}] is neither an onnxruntime.SessionOptions attribute "
                f"nor a dotted config entry such as 'session.intra_op.allow_spinning'")
    if profile_prefix is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    return opts


def open_session(path: Path | None, data: bytes | None, options: ORTOptions,
                 profile_prefix: str | None = None) -> Any:
    """An ``InferenceSession`` on the CPU provider; a file ORT cannot load is a usage error."""
    import onnxruntime as ort

    opts = session_options(options, profile_prefix)
    source: Any = str(path) if path is not None else data
    try:
        return ort.InferenceSession(source, opts, providers=[CPU_PROVIDER])
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
        what = f"model file {str(path)!r}" if path is not None else "model bytes"
        raise CpuperfUsageError(f"{what} is not a model ONNX Runtime can load: {exc}") from exc


def resolve_shapes(session: Any, shape: tuple[tuple[str, tuple[int, ...]], ...],
                   metadata: Mapping[str, str]) -> dict[str, tuple[int, ...]]:
    """Static shape of every input: ``shape=``, else its own static dims, else the model's
    ``cpuperf_default_shape`` metadata; a usage error naming ``shape=`` otherwise."""
    ports = session.get_inputs()
    names = [p.name for p in ports]
    for name, _ in shape:
        if name and name not in names:
            raise CpuperfUsageError(
                f"shape names input {name!r}, which the model lacks; its inputs are "
                f"{', '.join(names)}")
    given, default = dict(shape), dict(_static_shape(metadata.get("cpuperf_default_shape")))
    shapes = {}
    for port in ports:
        static = all(isinstance(d, int) and d > 0 for d in port.shape)
        dims = given.get(port.name, given.get(""))
        if dims is None:
            dims = tuple(port.shape) if static else default.get(port.name, default.get(""))
        if dims is None:
            raise CpuperfUsageError(
                f"input {port.name!r} has dynamic dims {port.shape}: pass shape= such as "
                f"{{'{port.name}': [1, 64]}} or '[1,64]'")
        if len(dims) != len(port.shape) or any(
                isinstance(d, int) and d > 0 and d != g
                for d, g in zip(port.shape, dims, strict=True)):
            raise CpuperfUsageError(
                f"shape {list(dims)} does not fit input {port.name!r} of shape {port.shape}")
        shapes[port.name] = tuple(dims)
    return shapes


def vocab_size(metadata: Mapping[str, str], path: Path | None) -> int | None:
    """From the ``cpuperf_vocab_size`` metadata prop, else a ``config.json`` beside the file."""
    if "cpuperf_vocab_size" in metadata:
        return int(metadata["cpuperf_vocab_size"])
    config = path.parent / "config.json" if path is not None else None
    if config is not None and config.is_file():
        try:
            return int(json.loads(config.read_text())["vocab_size"])
        except (KeyError, ValueError, TypeError):
            return None
    return None


def summarize_profile(events: Sequence[Mapping[str, Any]]) -> KernelReport:
    """Op types (``op:provider``) of the executed nodes in an ORT profile; matmuls counted."""
    nodes = [e for e in events
             if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")]
    ops = [(e["args"].get("op_name", "?"), e["args"].get("provider", "?")) for e in nodes]
    matmuls = sum(op in MATMUL_OPS for op, _ in ops)
    return KernelReport(
        exec_types=dict(Counter(f"{op}:{provider}" for op, provider in ops)),
        matmul_layers=matmuls, sparse_layers=0, amx_layers=0,
        dominant_isa="unknown" if matmuls else "none")


@dataclass(eq=False)
class ORTCompiled:
    """An ONNX Runtime session with :class:`ORTOptions`; what ``ort_compile`` returns."""

    session: Any
    options: ORTOptions
    source: str
    shapes: dict[str, tuple[int, ...]]
    vocab_size: int | None
    model_path: Path | None = None
    model_bytes: bytes | None = field(default=None, repr=False)
    backend: str = "onnxruntime"
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.options.label or f"{self.source} [ort {self.options.describe()}]"

    @property
    def batch_size(self) -> int:
        first = next(iter(self.shapes.values()))
        return first[0] if first else 1

    def input_names(self) -> tuple[str, ...]:
        return tuple(self.shapes)

    def effective_config(self) -> dict[str, Any]:
        """Session options read back from the session, providers used, input shapes."""
        opts = self.session.get_session_options()
        report = self.kernels()
        return {
            "intra_op_num_threads": opts.intra_op_num_threads,
            "inter_op_num_threads": opts.inter_op_num_threads,
            "graph_optimization_level": opts.graph_optimization_level.name,
            "execution_mode": opts.execution_mode.name,
            "providers": ",".join(self.session.get_providers()),
            "input_shapes": ",".join(f"{n}={'x'.join(map(str, s))}"
                                     for n, s in self.shapes.items()),
            "kernels": f"{report.matmul_layers} matmul nodes in the ORT profile "
                       "(MLAS does not report its ISA)",
        }

    @cached_property
    def _kernels(self) -> KernelReport:
        with tempfile.TemporaryDirectory(prefix="cpuperf-ort-profile-") as tmp:
            profiled = open_session(self.model_path, self.model_bytes, self.options,
                                    profile_prefix=str(Path(tmp) / "profile"))
            profiled.run(None, self.example_inputs())
            events = json.loads(Path(profiled.end_profiling()).read_text())
        return summarize_profile(events)

    def kernels(self) -> KernelReport:
        """Op types of one untimed inference in a separate profiled session (cached)."""
        return self._kernels

    def versions(self) -> dict[str, str]:
        import onnxruntime as ort

        return {"onnxruntime": str(ort.__version__)}

    def example_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Token ids below the vocabulary size, mask of ones, other integers zeros."""
        rng = np.random.default_rng(seed)
        types = {i.name: _DTYPES.get(i.type, np.float32) for i in self.session.get_inputs()}
        inputs: dict[str, np.ndarray] = {}
        for name, shape in self.shapes.items():
            inputs[name] = token_input(name, shape, types[name], self.vocab_size, rng)
        return inputs

    def check_inputs(self, inputs: Inputs, shapes: bool = True) -> dict[str, np.ndarray]:
        """Match ``inputs`` to the model's inputs by name (and the session's shapes)."""
        check_input_names(tuple(self.shapes), inputs, self.source)
        arrays = {n: np.ascontiguousarray(inputs[n]) for n in self.shapes}
        for name, array in arrays.items():
            if shapes and array.shape != self.shapes[name]:
                raise CpuperfUsageError(
                    f"input {name!r} has shape {array.shape}, the session was set up for "
                    f"{self.shapes[name]} (pass shape= to ort_compile)")
        return arrays

    def timing_target(self, inputs: Inputs) -> SyncTarget:
        """One ``session.run`` per call on arrays checked and made contiguous once.

        IOBinding (inputs bound once as OrtValues) is not used: on CPU it runs no faster than
        ``run`` on contiguous arrays.
        """
        run, feeds = self.session.run, self.check_inputs(inputs)
        return SyncTarget(call=lambda: run(None, feeds), batch_size=self.batch_size,
                          threads=self.options.threads)

    def predict(self, inputs: Inputs) -> np.ndarray:
        """First output for a batch of any size, run in chunks of the session's batch."""
        arrays = self.check_inputs(inputs, shapes=False)
        return predict_in_chunks(arrays, self.batch_size,
                                 lambda chunk: np.asarray(self.session.run(None, chunk)[0]))


def compile_model(model: object, options: ORTOptions) -> ORTCompiled:
    """Open an ONNX Runtime CPU session on ``model`` with ``options``."""
    path, data = model_source(model)
    session = open_session(path, data, options)
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    source = (path.parent.name if path.stem == "model" else path.stem) if path else "onnx-model"
    return ORTCompiled(session=session, options=options, source=source,
                       shapes=resolve_shapes(session, options.shape, metadata),
                       vocab_size=vocab_size(metadata, path), model_path=path,
                       model_bytes=data)


class ORTCompiler:
    """``ort_compile(model, **options)``: an ORT CPU session; equal calls share one session."""

    def __init__(self, progress: Progress) -> None:
        self._cache: dict[tuple[Any, ...], ORTCompiled] = {}
        self._progress = progress

    def __call__(self, model: Any, *, threads: int | None = None,
                 inter_op_threads: int | None = None, graph_optimization: str = "all",
                 execution_mode: str = "sequential", providers: Sequence[str] | None = None,
                 shape: Any = None, label: str | None = None,
                 session_options: Mapping[str, Any] | None = None) -> ORTCompiled:
        options = check_options(
            threads=threads, inter_op_threads=inter_op_threads,
            graph_optimization=graph_optimization, execution_mode=execution_mode,
            providers=providers, shape=shape, label=label, session_options=session_options)
        path, data = model_source(model)
        if path is not None:
            model_key: tuple[Any, ...] = (str(path.resolve()), path.stat().st_mtime_ns)
        else:
            import hashlib

            model_key = ("bytes", hashlib.sha256(data or b"").hexdigest())
        key = (*model_key, options)
        if key not in self._cache:
            self._progress(f"opening {path.name if path else 'model'} in ONNX Runtime "
                           f"[{options.describe()}]")
            self._cache[key] = compile_model(model, options)
        return self._cache[key]


# --- the registry's seams: cold start, same-run reference (base.BackendModule) --------------


def check_cold_options(options: Mapping[str, Any]) -> None:
    check_options(**options)


def cold_compile(model: Any, options: dict[str, Any]) -> ORTCompiled:
    return compile_model(model, check_options(**options))


def recipe(options: ORTOptions) -> dict[str, Any]:
    """``ort_compile``'s keywords that open a session as ``options`` do (the label left out),
    as JSON data; :func:`cold_compile` takes them back."""
    keywords: dict[str, Any] = {"threads": options.threads,
                                "inter_op_threads": options.inter_op_threads}
    keywords = {k: v for k, v in keywords.items() if v is not None}
    keywords["graph_optimization"] = options.graph_optimization
    keywords["execution_mode"] = options.execution_mode
    if options.shape:
        keywords["shape"] = ",".join(f"{name}[{','.join(map(str, dims))}]"
                                     for name, dims in options.shape)
    if options.session_options:
        keywords["session_options"] = dict(options.session_options)
    return keywords


def artifact_source(compiled: ORTCompiled) -> ArtifactSource | str:
    """The ONNX file ``compiled`` was opened from, and its recipe; why there is none for a
    model opened from bytes."""
    if compiled.model_path is None:
        return "no artifact: the model was opened from bytes, not from an ONNX file"
    return ArtifactSource(files=(compiled.model_path,), recipe=recipe(compiled.options))


def first_inference(compiled: ORTCompiled) -> Callable[[], Any]:
    feeds = compiled.check_inputs(compiled.example_inputs())
    return lambda: compiled.session.run(None, feeds)


def reference_layout(measured: CompiledModel) -> tuple[int | None, int | None]:
    """``(streams, threads)`` of the OpenVINO reference: one stream, the session's intra-op
    threads."""
    config = measured.effective_config()
    streams = positive_int_or_none(config.get("NUM_STREAMS"))
    threads = positive_int_or_none(config.get("INFERENCE_NUM_THREADS"))
    threads = positive_int_or_none(config.get("intra_op_num_threads")) or threads
    return streams or 1, threads
