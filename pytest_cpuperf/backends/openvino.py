"""OpenVINO CPU backend: compile a model in a named configuration and report what ran.

Everything that can be checked without OpenVINO (keywords, files, shape strings) is checked
before ``openvino`` is even imported, so bad input fails fast and a plain pytest run stays light.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CpuperfUsageError
from ..isa import CpuIsa
from ..models import build_ir
from ..progress import Progress
from ..records.kernels import KernelReport
from ..records.profile import summarize
from ..versions import package_version
from .base import (
    ArtifactSource,
    AsyncTarget,
    CompiledModel,
    Inputs,
    check_input_names,
    positive_int_or_none,
    predict_in_chunks,
    token_input,
)
from .hf_export import export_hf_directory
from .onednn import dominant_isa, this_cpu, vector_isa

HINTS = {"throughput": "THROUGHPUT", "latency": "LATENCY", "none": None}
PRECISIONS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}
SPARSE_RATE_KEY = "CPU_SPARSE_WEIGHTS_DECOMPRESSION_RATE"

ShapeArg = Mapping[str, "list[int] | tuple[int, ...] | str"] | str | None


# --- argument checking (no openvino import) ---------------------------------------------


@dataclass(frozen=True)
class OVOptions:
    """The checked keywords of ``ov_compile``; hashable, so equal calls share one compile."""

    sparse_rate: float | None = None
    streams: int | str | None = None
    threads: int | None = None
    hint: str = "throughput"
    precision: str | None = None
    shape: tuple[tuple[str, str], ...] = ()
    config: tuple[tuple[str, str], ...] = ()
    label: str | None = None

    def properties(self) -> dict[str, Any]:
        """The CPU properties these options ask for (the raw ``config`` applied last)."""
        props: dict[str, Any] = {}
        if HINTS[self.hint] is not None:
            props["PERFORMANCE_HINT"] = HINTS[self.hint]
        if self.streams is not None:
            props["NUM_STREAMS"] = self.streams
        if self.threads is not None:
            props["INFERENCE_NUM_THREADS"] = self.threads
        if self.precision is not None:
            props["INFERENCE_PRECISION_HINT"] = PRECISIONS[self.precision]
        if self.sparse_rate is not None:
            props[SPARSE_RATE_KEY] = self.sparse_rate
        props.update(dict(self.config))
        return props

    def describe(self) -> str:
        """``sparse=0.75 streams=2`` style summary of what differs from the defaults."""
        parts = []
        if self.sparse_rate is not None:
            parts.append(f"sparse={self.sparse_rate:g}")
        if self.streams is not None:
            parts.append(f"streams={self.streams}")
        if self.threads is not None:
            parts.append(f"threads={self.threads}")
        if self.hint != "throughput":
            parts.append(f"hint={self.hint}")
        if self.precision is not None:
            parts.append(f"precision={self.precision}")
        return " ".join(parts) or "dense"


def check_options(
    *,
    sparse_rate: object = None,
    streams: object = None,
    threads: object = None,
    hint: object = "throughput",
    precision: object = None,
    shape: object = None,
    config: object = None,
    label: object = None,
) -> OVOptions:
    """Validate ``ov_compile`` keywords; raise :class:`CpuperfUsageError` naming the bad one."""
    if sparse_rate is not None:
        if isinstance(sparse_rate, bool) or not isinstance(sparse_rate, (int, float)):
            raise CpuperfUsageError(
                f"sparse_rate must be a number in [0, 1] (the fraction of zero weights above "
                f"which a layer uses sparse kernels, e.g. 0.75), got {sparse_rate!r}")
        if not 0.0 <= float(sparse_rate) <= 1.0 or math.isnan(float(sparse_rate)):
            raise CpuperfUsageError(
                f"sparse_rate must be in [0, 1] (e.g. 0.75), got {sparse_rate!r}")
        sparse_rate = float(sparse_rate)
    if streams is not None and not (
        (isinstance(streams, int) and not isinstance(streams, bool) and streams >= 1)
        or (isinstance(streams, str) and streams.upper() in ("AUTO", "NUMA"))
    ):
        raise CpuperfUsageError(
            f"streams must be an integer >= 1 or 'AUTO'/'NUMA', got {streams!r}")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise CpuperfUsageError(f"threads must be an integer >= 1, got {threads!r}")
    hint_key = str(hint).lower() if hint is not None else "none"
    if hint_key not in HINTS:
        raise CpuperfUsageError(
            f"hint must be one of {', '.join(map(repr, HINTS))}, got {hint!r}")
    if precision is not None and str(precision).lower() not in PRECISIONS:
        raise CpuperfUsageError(
            f"precision must be one of {', '.join(map(repr, PRECISIONS))} or None, "
            f"got {precision!r}")
    if label is not None and not isinstance(label, str):
        raise CpuperfUsageError(f"label must be a string, got {label!r}")
    return OVOptions(
        sparse_rate=sparse_rate,  # type: ignore[arg-type]
        streams=streams.upper() if isinstance(streams, str) else streams,  # type: ignore[arg-type]
        threads=threads,  # type: ignore[arg-type]
        hint=hint_key,
        precision=str(precision).lower() if precision is not None else None,
        shape=parse_shape(shape),
        config=tuple(sorted((k, str(v)) for k, v in load_config(config).items())),
        label=label,
    )


_SHAPE_ITEM = re.compile(r"\s*([^\[\],]*)\s*\[([^\]]*)\]\s*,?")


def parse_shape(shape: object) -> tuple[tuple[str, str], ...]:
    """Normalize ``shape`` to ``((input name or "", "1,64"), ...)``.

    Accepts a dict ``{"input_ids": [1, 64]}`` or benchmark_app's ``-shape`` string:
    ``"input_ids[1,64],attention_mask[1,64]"`` or ``"[1,64]"`` (every input).
    """
    if shape is None:
        return ()
    items: list[tuple[str, str]] = []
    if isinstance(shape, Mapping):
        for name, dims in shape.items():
            if isinstance(dims, str):
                text = dims.strip().strip("[]")
            elif isinstance(dims, (list, tuple)) and all(
                isinstance(d, int) and not isinstance(d, bool) for d in dims
            ):
                text = ",".join(str(d) for d in dims)
            else:
                raise CpuperfUsageError(
                    f"shape[{name!r}] must be a list of integers such as [1, 64], got {dims!r}")
            items.append((str(name), text))
    elif isinstance(shape, str):
        text = shape.strip()
        pos = 0
        while pos < len(text):
            match = _SHAPE_ITEM.match(text, pos)
            if not match or match.end() == pos:
                raise CpuperfUsageError(
                    f"shape string {shape!r} is not in benchmark_app's -shape form, e.g. "
                    f"'input_ids[1,64],attention_mask[1,64]' or '[1,64]'")
            items.append((match.group(1).strip(), match.group(2).strip()))
            pos = match.end()
    else:
        raise CpuperfUsageError(
            f"shape must be a dict such as {{'input_ids': [1, 64]}} or a benchmark_app -shape "
            f"string, got {shape!r}")
    for name, dims in items:
        if not re.fullmatch(r"\s*(\?|-1|\d+(\.\.\d+)?)(\s*,\s*(\?|-1|\d+(\.\.\d+)?))*\s*", dims):
            raise CpuperfUsageError(f"shape for input {name or '<all>'!r} has bad dims {dims!r}")
    return tuple(items)


def load_config(config: object) -> dict[str, Any]:
    """A raw property dict, or the path of a benchmark_app ``-load_config`` JSON file."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return {str(k): v for k, v in config.items()}
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise CpuperfUsageError(f"config file {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise CpuperfUsageError(f"config file {str(path)!r} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise CpuperfUsageError(f"config file {str(path)!r} must hold a JSON object")
        # benchmark_app's format nests properties under the device name
        section = data.get("CPU", data)
        if not isinstance(section, dict):
            raise CpuperfUsageError(f"config file {str(path)!r}: 'CPU' must be an object")
        return {k: {"YES": True, "NO": False}.get(v, v) if isinstance(v, str) else v
                for k, v in section.items()}
    raise CpuperfUsageError(
        f"config must be a dict of OpenVINO properties or the path of a benchmark_app "
        f"-load_config JSON file, got {config!r}")


def resolve_model_path(model: object) -> Path | None:
    """For path-like models: the IR/ONNX file or HF directory, checked to exist."""
    if not isinstance(model, (str, Path)):
        return None
    path = Path(model)
    if not path.exists():
        raise CpuperfUsageError(f"model file or directory {str(path)!r} does not exist")
    if path.is_dir():
        if not ((path / "openvino_model.xml").exists() or (path / "config.json").exists()):
            raise CpuperfUsageError(
                f"model directory {str(path)!r} holds neither openvino_model.xml nor a Hugging "
                f"Face config.json")
    elif path.suffix.lower() == ".xml" and not path.with_suffix(".bin").exists():
        raise CpuperfUsageError(f"IR weights {str(path.with_suffix('.bin'))!r} are missing")
    return path


# --- compiled model ---------------------------------------------------------------------


def _versions() -> dict[str, str]:
    import openvino as ov

    return {"openvino": ov.get_version().split("-")[0]}


def _read_model(core: Any, model: object, path: Path | None) -> Any:
    import openvino as ov

    if isinstance(model, ov.Model):
        return model.clone()
    assert path is not None
    if path.is_dir():
        if (path / "openvino_model.xml").exists():
            return core.read_model(str(path / "openvino_model.xml"))

        return core.read_model(str(export_hf_directory(path)))
    return core.read_model(str(path))


def _vocab_size(model: Any, path: Path | None) -> int | None:
    rt = model.get_rt_info()
    if "cpuperf_vocab_size" in rt:
        return int(rt["cpuperf_vocab_size"].astype(str))
    for candidate in ([path.parent, path] if path is not None else []):
        config = candidate / "config.json"
        if config.is_file():
            try:
                return int(json.loads(config.read_text())["vocab_size"])
            except (KeyError, ValueError, TypeError):
                return None
    return None


def _default_shape(model: Any) -> tuple[tuple[str, str], ...]:
    """The ``cpuperf_default_shape`` rt_info of a dynamic model (set by models.build_ir)."""
    rt = model.get_rt_info()
    if all(p.get_partial_shape().is_static for p in model.inputs) or \
            "cpuperf_default_shape" not in rt:
        return ()
    return parse_shape(rt["cpuperf_default_shape"].astype(str))


def _apply_shape(model: Any, shape: tuple[tuple[str, str], ...]) -> None:
    from openvino import PartialShape

    if not shape:
        return
    names = {name for port in model.inputs for name in port.get_names()}
    new_shapes: dict[Any, Any] = {}
    for name, dims in shape:
        if name and name not in names:
            raise CpuperfUsageError(
                f"shape names input {name!r}, which the model lacks; its inputs are "
                f"{', '.join(sorted(names))}")
        ports = [p for p in model.inputs if not name or name in p.get_names()]
        for port in ports:
            new_shapes[port] = PartialShape(f"[{dims}]")
    try:
        model.reshape(new_shapes)
    except RuntimeError as exc:
        raise CpuperfUsageError(f"shape {dict(shape)!r} cannot be applied: {exc}") from exc


PROFILE_INFERENCES = 5
"""Untimed PERF_COUNT inferences averaged into the per-layer profile."""


def _status(info: Any) -> str:
    return str(getattr(info.status, "name", info.status))


NO_KERNEL = ("undef", "unknown")
"""How exec types of layers that run no kernel begin (fused, in-place, inputs and outputs)."""


def ran(info: Any) -> bool:
    """Whether a profiled layer ran a kernel, by its exec type alone: the status follows the
    layer's time, not its work. The CPU plugin reports a layer whose time rounds to 0 us as
    NOT_RUN, though it ran (a small Subgraph of the tiny BERT reads NOT_RUN in about half the
    inferences on an AMX Xeon), and one that runs no kernel (``undef``, ``unknown_*``: fused,
    in place, an input) as EXECUTED when a busy machine stretches it past 1 us."""
    return (_status(info) in ("EXECUTED", "NOT_RUN")
            and not str(info.exec_type).startswith(NO_KERNEL))


def executed_in_any(runs: list[list[Any]]) -> list[Any]:
    """One profiling entry per layer that ran a kernel in any of ``runs``."""
    found: dict[str, Any] = {}
    for run in runs:
        for info in run:
            if ran(info):
                found.setdefault(info.node_name, info)
    return list(found.values())


def summarize_profiling(profile: Any, cpu: CpuIsa | None = None) -> KernelReport:
    """Turn ``InferRequest.get_profiling_info()`` into a :class:`KernelReport` (``cpu``, by
    default this machine's, supplies the ISA of exec types that name none)."""
    executed = [(p.node_type, p.exec_type) for p in profile if ran(p)]
    return summarize_exec_types(executed, cpu or this_cpu())


def summarize_exec_types(layers: Iterable[tuple[str, str]], cpu: CpuIsa) -> KernelReport:
    """The report of executed ``(layer type, exec type)`` pairs, one per layer, on ``cpu``.

    The dominant ISA is the one most FullyConnected exec types name (``brgemm_avx512_amx_I8``
    -> ``amx``, ``brgemm_avx2_f32`` -> ``avx2``); one that names none (``jit_gemm_I8``, INT8
    on AVX2 machines; ``jit_uni_...``) runs the widest vector ISA of ``cpu``, and the report
    says so in ``isa_inferred``."""
    executed = list(layers)
    counts = Counter(f"{layer}:{kernel}" for layer, kernel in executed)
    fc = [(layer, kernel) for layer, kernel in executed if layer.startswith("FullyConnected")]
    isa, note = dominant_isa([f"{layer}:{kernel}" for layer, kernel in fc], vector_isa(cpu))
    return KernelReport(
        exec_types=dict(counts),
        matmul_layers=len(fc),
        sparse_layers=sum("sparse" in kernel.lower() for _, kernel in fc),
        amx_layers=sum("amx" in kernel.lower() for _, kernel in executed),
        dominant_isa=isa,
        isa_inferred=note,
    )


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a property value: ``f32`` for types, names for enums."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "to_string"):
        return value.to_string()
    if hasattr(value, "name") and not callable(value.name):
        return str(value.name)
    if isinstance(value, (list, tuple, set)):
        return ",".join(str(_plain(v)) for v in value)
    return str(value)


@dataclass(eq=False)
class OVCompiled:
    """A model compiled for CPU with :class:`OVOptions`; what ``ov_compile`` returns."""

    compiled_model: Any
    options: OVOptions
    source: str
    model: Any
    vocab_size: int | None
    backend: str = "openvino"
    label: str = ""
    _core: Any = field(default=None, repr=False)
    source_object: Any = field(default=None, repr=False)
    """The object compiled from (kept alive so a cache keyed by its id stays right)."""
    model_file: Path | None = None
    """The model file read (an IR's ``.xml``, an ONNX file); None: compiled from an object or
    a Hugging Face export."""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.options.label or f"{self.source} [{self.options.describe()}]"

    @property
    def batch_size(self) -> int:
        first = self.compiled_model.inputs[0].get_partial_shape()
        dim = first[0] if first.rank.is_static and len(first) else None
        return int(dim.get_length()) if dim is not None and dim.is_static else 1

    def input_names(self) -> tuple[str, ...]:
        return tuple(p.get_any_name() for p in self.compiled_model.inputs)

    @cached_property
    def _properties(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for key in self.compiled_model.get_property("SUPPORTED_PROPERTIES"):
            if key == "SUPPORTED_PROPERTIES":
                continue
            try:
                value = self.compiled_model.get_property(key)
            except RuntimeError:
                continue
            props[key] = _plain(value)
        return props

    def effective_config(self) -> dict[str, Any]:
        return dict(self._properties)

    def property(self, key: str) -> Any:
        """One effective property, e.g. ``"NUM_STREAMS"``."""
        return self._properties.get(key)

    @cached_property
    def _profiled_request(self) -> Any:
        """An infer request of a separate PERF_COUNT compile, inputs set (never timed)."""
        props = self.options.properties()
        props["PERF_COUNT"] = True
        profiled = self._core.compile_model(self.model, "CPU", props)
        request = profiled.create_infer_request()
        for name, array in self.example_inputs().items():
            request.get_tensor(name).data[...] = array
        return request

    @cached_property
    def _profiling_runs(self) -> list[list[Any]]:
        """``get_profiling_info()`` of one warm and :data:`PROFILE_INFERENCES` more untimed
        inferences of the PERF_COUNT compile."""
        request = self._profiled_request
        runs = []
        for _ in range(1 + PROFILE_INFERENCES):
            request.infer()
            runs.append(list(request.get_profiling_info()))
        return runs

    @cached_property
    def _kernels(self) -> KernelReport:
        return summarize_profiling(executed_in_any(self._profiling_runs))

    def kernels(self) -> KernelReport:
        """Kernels from a separate PERF_COUNT compile and a few untimed inferences (cached):
        a layer counts when any of them ran a kernel for it (see :func:`ran`)."""
        return self._kernels

    @cached_property
    def _layer_profile(self) -> dict[str, float]:

        runs = self._profiling_runs[1:]  # the first inference's times include one-off work
        layers = [(p.node_type, p.exec_type, p.real_time.total_seconds() * 1000.0)
                  for run in runs for p in run if _status(p) == "EXECUTED"]
        return summarize(layers, len(runs))

    def layer_profile(self) -> dict[str, float]:
        """ms per inference by ``"layer type:exec type"`` over the untimed PERF_COUNT
        inferences after the warm one (cached)."""
        return self._layer_profile

    def versions(self) -> dict[str, str]:
        return _versions()

    def example_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Token ids below the vocabulary size, attention mask of ones, anything else zeros."""
        rng = np.random.default_rng(seed)
        inputs: dict[str, np.ndarray] = {}
        for port in self.compiled_model.inputs:
            name = port.get_any_name()
            pshape = port.get_partial_shape()
            if not pshape.is_static:
                raise CpuperfUsageError(
                    f"input {name!r} has dynamic shape {pshape}; pass shape= to ov_compile "
                    f"(e.g. shape={{'{name}': [1, 64]}} or shape='[1,64]') or give inputs=")
            shape = [d.get_length() for d in pshape]
            inputs[name] = token_input(name, shape, port.get_element_type().to_dtype(),
                                       self.vocab_size, rng)
        return inputs

    def check_inputs(self, inputs: Inputs) -> dict[str, np.ndarray]:
        """Match ``inputs`` to the model's inputs by name; raise a clear error otherwise."""
        expected = self.input_names()
        check_input_names(expected, inputs, self.source)
        return {n: np.asarray(inputs[n]) for n in expected}

    def timing_target(self, inputs: Inputs) -> AsyncTarget:
        """An AsyncInferQueue of OPTIMAL_NUMBER_OF_INFER_REQUESTS, inputs copied in once."""
        from openvino import AsyncInferQueue

        arrays = self.check_inputs(inputs)
        queue = AsyncInferQueue(self.compiled_model, 0)
        for index in range(len(queue)):
            request = queue[index]
            for name, array in arrays.items():
                tensor = request.get_tensor(name)
                if tuple(tensor.shape) != array.shape:
                    raise CpuperfUsageError(
                        f"input {name!r} has shape {array.shape}, the compiled model expects "
                        f"{tuple(tensor.shape)}")
                tensor.data[...] = array
        return AsyncTarget(queue=queue, batch_size=self.batch_size)

    def predict(self, inputs: Inputs) -> np.ndarray:
        """First output for a batch of real inputs; split into the compiled batch if static."""
        arrays = self.check_inputs(inputs)
        request = self.compiled_model.create_infer_request()
        rows = next(iter(arrays.values())).shape[0]
        step = self.batch_size if self.compiled_model.inputs[0].get_partial_shape().is_static \
            else rows
        return predict_in_chunks(arrays, step, lambda chunk: np.array(request.infer(chunk)[0]))


def _last_line(exc: BaseException) -> str:
    """The last non-empty line of an OpenVINO error (the reason; the rest is a C++ trace)."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__


def compile_model(model: object, options: OVOptions, core: Any = None) -> OVCompiled:
    """Read, reshape and compile ``model`` for CPU with ``options``."""
    path = resolve_model_path(model)
    import openvino as ov

    if path is None and not isinstance(model, ov.Model):
        raise CpuperfUsageError(
            f"model must be an IR/ONNX path, a Hugging Face model directory or an "
            f"openvino.Model, got {type(model).__name__}")
    core = core or ov.Core()
    try:
        ov_model = _read_model(core, model, path)
    except RuntimeError as exc:
        raise CpuperfUsageError(
            f"model {str(path)!r} could not be read by OpenVINO ({_last_line(exc)}); pass an "
            f"OpenVINO IR (.xml with its .bin), an ONNX file or a Hugging Face model "
            f"directory") from exc
    _apply_shape(ov_model, options.shape or _default_shape(ov_model))
    props = options.properties()
    try:
        compiled = core.compile_model(ov_model, "CPU", props)
    except RuntimeError as exc:
        raise CpuperfUsageError(
            f"OpenVINO rejected the configuration {props!r}: {_last_line(exc)}") from exc
    if path is None:
        source = ov_model.get_friendly_name()
    elif path.is_file() and path.stem not in ("model", "openvino_model"):
        source = path.stem
    else:
        source = path.parent.name if path.is_file() else path.name
    return OVCompiled(compiled_model=compiled, options=options, source=source, model=ov_model,
                      vocab_size=_vocab_size(ov_model, path), _core=core,
                      model_file=_model_file(path))


def _model_file(path: Path | None) -> Path | None:
    """The file OpenVINO read for ``path`` (the IR of a model directory), None when it read
    none of its own (an object, a Hugging Face export)."""
    if path is not None and path.is_dir():
        path = path / "openvino_model.xml"
    return path if path is not None and path.is_file() else None


class OVCompiler:
    """``ov_compile(model, **options)``: compile for CPU; equal calls share one compile (one
    ``openvino.Core`` per session)."""

    def __init__(self, progress: Progress) -> None:
        self._cache: dict[tuple[Any, ...], OVCompiled] = {}
        self._progress = progress
        self._core: Any = None

    def __call__(self, model: Any, *, sparse_rate: float | None = None,
                 streams: int | str | None = None, threads: int | None = None,
                 hint: str = "throughput", precision: str | None = None, shape: Any = None,
                 config: Any = None, label: str | None = None) -> OVCompiled:
        options = check_options(sparse_rate=sparse_rate, streams=streams, threads=threads,
                                hint=hint, precision=precision, shape=shape, config=config,
                                label=label)
        path = resolve_model_path(model)
        model_key: tuple[Any, ...] = (
            (str(path.resolve()), path.stat().st_mtime_ns) if path is not None
            else ("id", id(model)))
        key = (*model_key, options)
        if key not in self._cache:
            import openvino as ov

            self._core = self._core or ov.Core()
            self._progress(f"compiling {path.name if path else 'model'} for CPU "
                           f"[{options.describe()}]")
            compiled = compile_model(model, options, core=self._core)
            compiled.source_object = model  # keeps id(model) unique while cached
            self._cache[key] = compiled
        return self._cache[key]


# --- the registry's seams: cold start, same-run reference (base.BackendModule) --------------


def check_cold_options(options: Mapping[str, Any]) -> None:
    check_options(**options)


def cold_compile(model: Any, options: dict[str, Any]) -> OVCompiled:
    return compile_model(model, check_options(**options))


def recipe(options: OVOptions) -> dict[str, Any]:
    """``ov_compile``'s keywords that compile as ``options`` do (the label left out), as JSON
    data; :func:`cold_compile` takes them back."""
    keywords: dict[str, Any] = {"sparse_rate": options.sparse_rate, "streams": options.streams,
                                "threads": options.threads, "precision": options.precision}
    keywords = {k: v for k, v in keywords.items() if v is not None}
    if options.hint != "throughput":
        keywords["hint"] = options.hint
    if options.shape:
        keywords["shape"] = ",".join(f"{name}[{dims}]" for name, dims in options.shape)
    if options.config:
        keywords["config"] = dict(options.config)
    return keywords


def artifact_source(compiled: OVCompiled) -> ArtifactSource | str:
    """The IR (``.xml`` and ``.bin``) or ONNX file ``compiled`` was read from, and its
    recipe; why there is none for a model compiled from an object or a Hugging Face export."""
    path = compiled.model_file
    if path is None:
        return ("no artifact: the model was compiled from an object or a Hugging Face "
                "export, not from an IR or ONNX file")
    files = (path, path.with_suffix(".bin")) if path.suffix.lower() == ".xml" else (path,)
    return ArtifactSource(files=files, recipe=recipe(compiled.options))


def first_inference(compiled: OVCompiled) -> Callable[[], Any]:
    inputs = compiled.example_inputs()
    request = compiled.compiled_model.create_infer_request()
    return lambda: request.infer(inputs)


def reference_layout(measured: CompiledModel) -> tuple[int | None, int | None]:
    """``(streams, threads)`` the runtime chose for ``measured``."""
    config = measured.effective_config()
    return (positive_int_or_none(config.get("NUM_STREAMS")),
            positive_int_or_none(config.get("INFERENCE_NUM_THREADS")))


def build_reference(spec: Any, layout: tuple[Any, ...],
                    progress: Progress | None) -> tuple[OVCompiled, str]:
    """The reference BERT as a dense INT8 IR, compiled in ``(streams, threads)``."""
    streams, threads = layout
    if progress is not None:
        progress("same-run reference: a 2-layer BERT (int8, seq 64) measured beside every "
                 "model to cancel the machine's drift; built once, then cached "
                 "(--cpuperf-reference false skips it)")
    path = build_ir(spec, sparsity=0.0, int8=True, progress=progress)
    compiled = compile_model(path, check_options(streams=streams, threads=threads,
                                                 label="reference"))
    layout_text = (f"{compiled.property('NUM_STREAMS')} streams x "
                   f"{compiled.property('INFERENCE_NUM_THREADS')} threads")
    return compiled, (f"openvino {package_version('openvino')} bert 2x768 int8 seq64, "
                      f"{layout_text}")
