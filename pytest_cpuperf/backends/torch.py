"""Stock PyTorch backend: eager, ``torch.jit`` trace + freeze, ``torch.compile``; fp32, bf16,
or int8 (PT2E quantization through torchao, compiled by inductor: see :mod:`.inductor`).

Also home of what the IPEX backend shares with it: keyword checks, input generation, the
logits wrapper used for tracing, and the oneDNN verbose capture behind :meth:`kernels`.

Tracing note: transformers 5 cannot ``torch.jit.trace`` its own 2-D attention-mask handling
(traced sizes are tensors, which its mask code mistakes for ``cache_position``), so traced
Hugging Face models get the mask already expanded to 4-D (``[batch, 1, 1, seq]``, boolean),
which transformers passes through unchanged. Eager and compiled models get the inputs as is.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from ..errors import CpuperfUsageError
from ..isa import usable_cores
from ..models.bert import build_torch_bert
from ..progress import Progress
from ..records.kernels import KernelReport
from ..versions import package_version
from .base import (
    CompiledModel,
    Inputs,
    SyncTarget,
    check_calibration,
    check_input_names,
    check_label,
    check_threads,
    default_label,
    generate_inputs,
    predict_in_chunks,
    to_array,
)
from .inductor import QUANTIZER, compile_frozen, quantize_pt2e, require_torchao
from .onednn import capture_fd_stdout, kernels_note, parse_onednn_verbose, with_isa_line
from .onednn import require_amx as require_amx  # public: examples import it from here
from .torch_options import DTYPES as DTYPES
from .torch_options import MODES as MODES
from .torch_options import QUANTIZATIONS as QUANTIZATIONS
from .torch_options import check_combination

HF_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_SHAPE = (1, 64)
CALIBRATION_BATCHES = 8
"""Generated calibration batches for static int8 of a Hugging Face model given no inputs."""

Runner = Callable[[dict[str, torch.Tensor]], Any]
_TORCH_DEFAULT_THREADS = torch.get_num_threads()


def default_threads() -> int:
    """The thread count of a ``threads=None`` model: torch's own default when this backend was
    imported, never more than the cores this process may run on (a pinned instance)."""

    return max(1, min(_TORCH_DEFAULT_THREADS, usable_cores()))


# --- keyword checks -----------------------------------------------------------------------


def check_model(model: object, fixture: str) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise CpuperfUsageError(
            f"{fixture}: model must be a torch.nn.Module (e.g. a transformers "
            f"BertForSequenceClassification), got {type(model).__name__}")
    return model


def accepted_inputs(model: torch.nn.Module) -> tuple[str, ...]:
    """Of :data:`HF_INPUTS`, those ``model.forward`` accepts (DistilBERT has no token types)."""
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return HF_INPUTS
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return HF_INPUTS
    return tuple(n for n in HF_INPUTS if n in params)


def vocab_size(model: torch.nn.Module) -> int | None:
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    return int(size) if isinstance(size, int) and size > 0 else None


def resolve_examples(model: torch.nn.Module, example_inputs: object
                     ) -> tuple[dict[str, np.ndarray], bool]:
    """``(example inputs, generated?)`` from ``example_inputs``: None, ``(batch, seq)`` or a
    dict of tensors/arrays by input name."""
    if isinstance(example_inputs, Mapping):
        if not example_inputs:
            raise CpuperfUsageError("example_inputs must not be an empty dict")
        arrays = {str(k): to_array(str(k), v) for k, v in example_inputs.items()}
        if any(a.ndim == 0 for a in arrays.values()):
            raise CpuperfUsageError("example_inputs must hold arrays with a batch dimension")
        return arrays, False
    if example_inputs is None:
        shape = DEFAULT_SHAPE
    elif (isinstance(example_inputs, (tuple, list)) and len(example_inputs) == 2
          and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1
                  for d in example_inputs)):
        shape = (example_inputs[0], example_inputs[1])
    else:
        raise CpuperfUsageError(
            f"example_inputs must be None, a (batch, seq_len) pair such as (1, 64) or a dict "
            f"of tensors by input name, got {example_inputs!r}")
    if getattr(model, "config", None) is None:
        raise CpuperfUsageError(
            "example_inputs: the model is not a Hugging Face model (no .config), so inputs "
            "cannot be generated; pass example_inputs={'name': tensor, ...}")
    return generate_inputs(accepted_inputs(model), shape, vocab_size(model)), True


# --- running -----------------------------------------------------------------------------


def first_tensor(output: Any) -> torch.Tensor:
    """The logits of a model output: a tensor, ``.logits``, or the first tensor inside."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            with contextlib.suppress(TypeError):
                return first_tensor(item)
    raise TypeError(f"model output {type(output).__name__} holds no tensor")


class LogitsModule(torch.nn.Module):
    """Positional inputs in ``names`` order -> logits tensor; what gets traced.

    For Hugging Face models a 2-D ``attention_mask`` is expanded to a boolean 4-D mask first
    (see the module docstring).
    """

    def __init__(self, model: torch.nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.names = tuple(names)
        self.expand_mask = getattr(model, "config", None) is not None

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        kwargs = dict(zip(self.names, tensors, strict=True))
        mask = kwargs.get("attention_mask")
        if self.expand_mask and mask is None and "input_ids" in kwargs:
            mask = torch.ones_like(kwargs["input_ids"])  # what transformers assumes
        if self.expand_mask and mask is not None and mask.dim() == 2:
            kwargs["attention_mask"] = mask[:, None, None, :].to(torch.bool)
        return first_tensor(self.model(**kwargs))


def autocast(dtype: str) -> contextlib.AbstractContextManager[Any]:
    """bf16 CPU autocast, or nothing for fp32/int8."""
    if dtype == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def trace_and_freeze(module: torch.nn.Module, examples: Mapping[str, np.ndarray],
                     dtype: str) -> torch.jit.ScriptModule:
    """``torch.jit.trace`` (under autocast for bf16) then ``torch.jit.freeze``; runs twice so
    the profiling executor settles before anything is timed."""
    args = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in examples.values())
    with torch.no_grad(), autocast(dtype), warnings.catch_warnings():
        # benign for these models (shape checks become constants), and jit's deprecation
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*deprecated",
                                category=DeprecationWarning)
        traced = torch.jit.trace(module.eval(), args, check_trace=False, strict=False)
        frozen = torch.jit.freeze(traced.eval())
        for _ in range(2):
            frozen(*args)
    return frozen


def positional_runner(module: Callable[..., Any], names: Sequence[str]) -> Runner:
    names = tuple(names)
    return lambda tensors: module(*(tensors[n] for n in names))


# --- compiled model ----------------------------------------------------------------------


def onednn_version() -> str:
    match = re.search(r"MKL-DNN v([\d.]+)", torch.__config__.show())
    return match.group(1) if match else "unknown"


@dataclass(eq=False)
class TorchCompiled:
    """A PyTorch model prepared in one configuration; what ``torch_optimize`` returns."""

    runner: Runner
    examples: dict[str, np.ndarray]
    generated: bool
    vocab: int | None
    mode: str
    dtype: str
    threads: int | None
    label: str
    backend: str = "torch"
    extra_config: dict[str, Any] = field(default_factory=dict)
    extra_versions: dict[str, str] = field(default_factory=dict)
    extra_verbose: Callable[[], list[contextlib.AbstractContextManager[Any]]] | None = None
    """More verbose switches for the profiling pass (IPEX bundles its own oneDNN)."""

    @property
    def batch_size(self) -> int:
        return int(next(iter(self.examples.values())).shape[0])

    def input_names(self) -> tuple[str, ...]:
        return tuple(self.examples)

    def _apply_threads(self) -> None:
        """Run with this model's thread count: its own, else the process default (so a
        ``threads=1`` model measured before never leaks its setting into this one)."""
        wanted = self.threads if self.threads is not None else default_threads()
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)

    def _verbose_contexts(self) -> list[contextlib.AbstractContextManager[Any]]:
        contexts = [torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON)]
        return contexts + (self.extra_verbose() if self.extra_verbose else [])

    def effective_config(self) -> dict[str, Any]:
        report = self.kernels()
        config: dict[str, Any] = {
            "mode": self.mode,
            "dtype": self.dtype,
            "threads": self.threads if self.threads is not None else default_threads(),
            "threads_requested": self.threads,
            "interop_threads": torch.get_num_interop_threads(),
            "input_shape": "x".join(map(str, next(iter(self.examples.values())).shape)),
            "torch": str(torch.__version__),
            "onednn": onednn_version(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "kernels": kernels_note(report),
        }
        config.update(self.extra_config)
        return config

    @cached_property
    def _kernels(self) -> KernelReport | None:
        tensors = self._tensors(self.examples)
        with capture_fd_stdout() as box, contextlib.ExitStack() as stack:
            for ctx in self._verbose_contexts():
                stack.enter_context(ctx)
            self._run(tensors)
        return parse_onednn_verbose(with_isa_line(box[0]))

    def kernels(self) -> KernelReport | None:
        """oneDNN primitives of one untimed inference with verbose on (cached)."""
        return self._kernels

    def versions(self) -> dict[str, str]:
        found: dict[str, str] = {"torch": str(torch.__version__)}
        transformers = package_version("transformers")
        if transformers:
            found["transformers"] = transformers
        found.update(self.extra_versions)
        return found

    def example_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Generated token ids (``seed``), or a copy of the example inputs the user gave."""
        if not self.generated:
            return {n: a.copy() for n, a in self.examples.items()}
        shape = next(iter(self.examples.values())).shape
        return generate_inputs(tuple(self.examples), (shape[0], shape[1]), self.vocab, seed)

    def check_inputs(self, inputs: Inputs) -> dict[str, np.ndarray]:
        expected = self.input_names()
        check_input_names(expected, inputs, self.label)
        return {n: to_array(n, inputs[n]) for n in expected}

    def _tensors(self, arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in arrays.items()}

    def _run(self, tensors: dict[str, torch.Tensor]) -> Any:
        self._apply_threads()
        with torch.no_grad(), autocast(self.dtype):
            return self.runner(tensors)

    def timing_target(self, inputs: Inputs) -> SyncTarget:
        """One inference per call on tensors bound once, under no_grad (and autocast)."""
        tensors = self._tensors(self.check_inputs(inputs))
        run = self._run
        return SyncTarget(call=lambda: run(tensors), batch_size=self.batch_size,
                          threads=self.threads)

    def predict(self, inputs: Inputs) -> np.ndarray:
        """Logits (float32) for a batch of any size, run in chunks of the example batch."""
        arrays = self.check_inputs(inputs)
        return predict_in_chunks(
            arrays, self.batch_size,
            lambda chunk: first_tensor(self._run(self._tensors(chunk))).float().numpy())


def make_optimizer(progress: Progress) -> Callable[..., TorchCompiled]:
    """The ``torch_optimize`` fixture's value (the registry's factory)."""
    return optimize


def optimize(model: object, *, mode: object = "eager", dtype: object = "fp32",
             example_inputs: object = None, threads: object = None,
             label: object = None, quantization: object = None,
             calibration: object = None) -> TorchCompiled:
    """Prepare ``model`` for CPU inference with stock PyTorch.

    ``mode``: ``eager``; ``jit`` (trace + freeze); ``compile`` (inductor, freezing on).
    ``dtype``: ``fp32``, ``bf16`` (CPU autocast) or ``int8`` (``mode='compile'`` only: PT2E
    quantization with torchao's X86InductorQuantizer). ``quantization``: ``static`` (default
    for int8: activation scales calibrated on ``calibration``, a list of input dicts, else on
    ``example_inputs`` when given as a dict, else on generated token batches) or ``dynamic``
    (scales computed on every call, no calibration). ``example_inputs``: None (``[1, 64]``
    token inputs), a ``(batch, seq_len)`` pair, or a dict of tensors by input name.
    Every keyword is checked before anything compiles.
    """
    mode, dtype, quant = check_combination(mode, dtype, quantization, calibration)
    threads = check_threads(threads)
    label = check_label(label)
    module = check_model(model, "torch_optimize").eval()
    if (quant == "static" and calibration is None and not isinstance(example_inputs, Mapping)
            and getattr(module, "config", None) is None):
        raise CpuperfUsageError(
            "calibration: static int8 needs inputs to calibrate on, and the model is not a "
            "Hugging Face model (no .config), so none can be generated; pass calibration="
            "[{'name': tensor, ...}, ...] or example_inputs={'name': tensor, ...}, or "
            "quantization='dynamic'")
    examples, generated = resolve_examples(module, example_inputs)
    batches = check_calibration(calibration, tuple(examples))
    extra_config: dict[str, Any] = {"freezing": True} if mode == "compile" else {}
    extra_versions: dict[str, str] = {}
    if quant == "static":
        batches = batches or calibration_inputs(module, examples, generated)
    if quant is not None:
        extra_versions["torchao"] = require_torchao()
        extra_config.update({"quantization": quant, "quantizer": QUANTIZER,
                             "calibration_batches": len(batches) if batches else None})
    torch.set_num_threads(threads or default_threads())  # compile with the count it will run
    if quant is not None:
        runner = _quantized_runner(module, examples, batches, quant)
    else:
        runner = _build_runner(module, mode, dtype, examples)
    return TorchCompiled(
        runner=runner, examples=examples, generated=generated, vocab=vocab_size(module),
        mode=mode, dtype=dtype, threads=threads,
        label=label or default_label("torch", mode, dtype,
                                     "dynamic" if quant == "dynamic" else None,
                                     f"t{threads}" if threads else None),
        extra_config=extra_config, extra_versions=extra_versions,
    )


def calibration_inputs(module: torch.nn.Module, examples: dict[str, np.ndarray],
                       generated: bool) -> list[dict[str, np.ndarray]]:
    """The example inputs the caller gave, else :data:`CALIBRATION_BATCHES` seeded token
    batches of the example shape."""
    if not generated:
        return [examples]
    shape = next(iter(examples.values())).shape
    return [generate_inputs(tuple(examples), (shape[0], shape[1]), vocab_size(module),
                            seed=1000 + i) for i in range(CALIBRATION_BATCHES)]


def _as_tensors(arrays: Mapping[str, Any], names: Sequence[str]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(to_array(n, arrays[n]))) for n in names)


def _quantized_runner(module: torch.nn.Module, examples: dict[str, np.ndarray],
                      batches: Sequence[Mapping[str, Any]] | None, quantization: str) -> Runner:
    """PT2E int8 of ``module`` (through :class:`LogitsModule`), compiled with freezing; static
    calibrates on ``batches``, dynamic runs the example once (its weight observers)."""
    names = tuple(examples)
    args = _as_tensors(examples, names)
    runs = [_as_tensors(b, names) for b in batches] if batches else [args]
    quantized, passes = quantize_pt2e(LogitsModule(module, names).eval(), args, runs,
                                      quantization)
    tensors = dict(zip(names, args, strict=True))
    return compile_frozen(quantized, tensors, contextlib.nullcontext, positional=names,
                          passes=passes)


def _build_runner(module: torch.nn.Module, mode: str, dtype: str,
                  examples: Mapping[str, np.ndarray]) -> Runner:
    if mode == "jit":
        frozen = trace_and_freeze(LogitsModule(module, tuple(examples)), examples, dtype)
        return positional_runner(frozen, tuple(examples))
    if mode == "compile":
        tensors = {n: torch.from_numpy(np.ascontiguousarray(a)) for n, a in examples.items()}
        return compile_frozen(module, tensors, lambda: autocast(dtype))
    return lambda tensors: module(**tensors)


# --- the registry's seams: cold start, same-run reference (base.BackendModule) --------------


def cold_build(factory: str) -> tuple[torch.nn.Module, float]:
    """The module a factory ``"package.module:function"`` returns, and its parameters' MiB."""
    import importlib

    module_name, _, function = factory.partition(":")
    built = getattr(importlib.import_module(module_name), function)()
    if not isinstance(built, torch.nn.Module):
        raise TypeError(f"factory {factory!r} returned {type(built).__name__}, not a "
                        f"torch.nn.Module")
    return built, parameter_mb(built)


def parameter_mb(module: torch.nn.Module) -> float:
    return sum(p.numel() * p.element_size() for p in module.parameters()) / (1024.0 * 1024.0)


def cold_compile(model: Any, options: dict[str, Any]) -> TorchCompiled:
    return optimize(model, **options)


def first_inference(compiled: TorchCompiled) -> Callable[[], Any]:
    return compiled.timing_target(compiled.example_inputs()).call


def reference_layout(measured: CompiledModel) -> tuple[int]:
    """``(threads,)``: the model's thread count, torch's default for ``threads=None``."""
    return (getattr(measured, "threads", None) or default_threads(),)


def build_reference(spec: Any, layout: tuple[Any, ...],
                    progress: Progress | None) -> tuple[TorchCompiled, str]:
    """The reference BERT in eager fp32 on ``(threads,)``."""
    (threads,) = layout
    compiled = optimize(build_torch_bert(spec), mode="eager", dtype="fp32", threads=threads,
                        label="reference")
    return compiled, (f"torch {package_version('torch')} bert 2x768 fp32 eager seq64, "
                      f"{threads} threads")
