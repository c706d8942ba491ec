"""What a backend hands the engine: a compiled model and the primitive to time it.

A backend knows *what runs* (compile, bind inputs, read kernels); the engine knows *how it is
timed*. The two meet in one of two timing targets:

* :class:`AsyncTarget` - a queue of infer requests started without waiting (OpenVINO's
  ``AsyncInferQueue``), timed with benchmark_app's loop;
* :class:`SyncTarget` - a call that runs one inference and returns when it is done
  (PyTorch, IPEX), timed call by call.

The rest of the plugin reaches a backend through its registry row (registry.py) and the
functions its module defines (:class:`BackendModule`): a cold start's compile and first
inference, the layout of its same-run reference; nothing outside the backends names one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import CpuperfUsageError
from ..progress import Progress
from ..records.kernels import KernelReport

if TYPE_CHECKING:
    import numpy as np

Inputs = Mapping[str, Any]
DEFAULT_VOCAB_FALLBACK = 1000
"""Token ids are drawn below this when the vocabulary size cannot be found."""


class BackendUnavailable(RuntimeError):
    """The backend cannot run in this environment; the plugin turns this into a skip."""


def check_input_names(expected: Sequence[str], inputs: Inputs, model: str) -> None:
    """Raise :class:`CpuperfUsageError` unless ``inputs`` has exactly the ``expected`` names."""
    missing = [name for name in expected if name not in inputs]
    extra = sorted(set(inputs) - set(expected))
    if missing or extra:
        raise CpuperfUsageError(
            f"inputs do not match the model {model!r}: expected {list(expected)}"
            + (f", missing {missing}" if missing else "")
            + (f", unknown {extra}" if extra else ""))


def predict_in_chunks(arrays: Mapping[str, np.ndarray], step: int,
                      run: Callable[[dict[str, np.ndarray]], np.ndarray]) -> np.ndarray:
    """``run`` over rows of ``arrays`` in chunks of ``step`` (the compiled batch); the last
    chunk is padded by repeating its last row, and the padding dropped from the output."""
    import numpy as np

    rows = next(iter(arrays.values())).shape[0]
    outputs = []
    for start in range(0, rows, step):
        chunk = {n: a[start:start + step] for n, a in arrays.items()}
        size = next(iter(chunk.values())).shape[0]
        if size < step:
            chunk = {n: np.concatenate([a, np.repeat(a[-1:], step - size, axis=0)])
                     for n, a in chunk.items()}
        outputs.append(np.asarray(run(chunk))[:size])
    return np.concatenate(outputs)


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` lower-cased if it is one of ``choices``; a usage error naming ``name`` if not."""
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise CpuperfUsageError(
        f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def check_threads(threads: object) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise CpuperfUsageError(f"threads must be an integer >= 1 or None, got {threads!r}")
    return threads


def check_label(label: object) -> str | None:
    if label is not None and not isinstance(label, str):
        raise CpuperfUsageError(f"label must be a string, got {label!r}")
    return label


def to_array(name: str, value: object) -> np.ndarray:
    """``value`` (a tensor of any framework, an array or nested lists) as a numpy array."""
    import numpy as np

    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor
        return value.detach().cpu().numpy()  # type: ignore[no-any-return]
    if isinstance(value, (np.ndarray, list, tuple)):
        array = np.asarray(value)
        if array.dtype == object:
            raise CpuperfUsageError(f"example_inputs[{name!r}] is not a rectangular array")
        return array
    raise CpuperfUsageError(
        f"example_inputs[{name!r}] must be a torch.Tensor or numpy array, got "
        f"{type(value).__name__}")


def token_input(name: str, shape: Sequence[int], dtype: Any, vocab: int | None,
                rng: np.random.Generator) -> np.ndarray:
    """A generated input that suits its name: token ids below the vocabulary size (or
    :data:`DEFAULT_VOCAB_FALLBACK`), an attention mask of ones, zeros for other integer
    inputs (token types), normal noise for float ones."""
    import numpy as np

    lname = name.lower()
    if "mask" in lname:
        return np.ones(shape, dtype=dtype)
    if np.issubdtype(dtype, np.integer) and "ids" in lname and "type" not in lname:
        return rng.integers(0, vocab or DEFAULT_VOCAB_FALLBACK, size=shape).astype(dtype)
    if np.issubdtype(dtype, np.integer) or np.dtype(dtype) == np.bool_:
        return np.zeros(shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)


def generate_inputs(names: Sequence[str], shape: tuple[int, int], vocab: int | None,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """int64 token inputs of one ``shape`` for ``names`` (see :func:`token_input`)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {name: token_input(name, shape, np.int64, vocab, rng) for name in names}


def check_calibration(calibration: object, names: Sequence[str]
                      ) -> list[dict[str, Any]] | None:
    """None, or a non-empty list of input dicts that each hold every input name."""
    if calibration is None:
        return None
    if isinstance(calibration, (str, bytes, Mapping)) or not isinstance(calibration, Sequence):
        raise CpuperfUsageError(
            f"calibration must be a list of input dicts (one per batch), got "
            f"{type(calibration).__name__}")
    if not calibration:
        raise CpuperfUsageError("calibration must hold at least one batch")
    batches = []
    for index, batch in enumerate(calibration):
        if not isinstance(batch, Mapping):
            raise CpuperfUsageError(
                f"calibration[{index}] must be a dict of inputs, got {type(batch).__name__}")
        missing = [n for n in names if n not in batch]
        if missing:
            raise CpuperfUsageError(f"calibration[{index}] lacks inputs {missing}")
        batches.append({n: batch[n] for n in names})
    return batches


def default_label(backend: str, *parts: object) -> str:
    return "-".join([backend, *(str(p) for p in parts if p is not None)])


class AsyncQueue(Protocol):
    """The part of ``openvino.AsyncInferQueue`` the engine uses."""

    def get_idle_request_id(self) -> int: ...
    def start_async(self) -> None: ...
    def wait_all(self) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> Any: ...  # has ``.latency`` in milliseconds


@dataclass
class AsyncTarget:
    """Requests with their inputs already set; ``first_inference`` warms one request."""

    queue: AsyncQueue
    batch_size: int


@dataclass
class SyncTarget:
    """``call()`` runs one inference on bound inputs and returns when it is finished."""

    call: Callable[[], Any]
    batch_size: int
    threads: int | None = None


@runtime_checkable
class CompiledModel(Protocol):
    """A model compiled in one named configuration, ready to be measured."""

    backend: str
    label: str

    @property
    def batch_size(self) -> int: ...

    def effective_config(self) -> dict[str, Any]:
        """Properties read back from the runtime after compilation."""
        ...

    def kernels(self) -> KernelReport | None:
        """Kernels that really ran, from a profiling pass that is never timed (cached)."""
        ...

    def versions(self) -> dict[str, str]:
        """Versions of the libraries this configuration depends on."""
        ...

    def example_inputs(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Inputs generated to suit the model (token ids in the vocabulary, mask of ones...)."""
        ...

    def timing_target(self, inputs: Inputs) -> AsyncTarget | SyncTarget:
        """Bind ``inputs`` (checked against the model's inputs) for the timed loop."""
        ...

    def predict(self, inputs: Inputs) -> np.ndarray:
        """First output (logits) for a batch of real inputs; never timed."""
        ...

    def input_names(self) -> tuple[str, ...]:
        """Names of the model's inputs, as the user passes them."""
        ...


def positive_int_or_none(value: object) -> int | None:
    """``value`` as an integer when it reads as one above zero (a runtime property), else None."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@dataclass(frozen=True)
class Choice:
    """A keyword that takes one of ``values`` (``default`` when it is not given)."""

    name: str
    default: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class FactoryOptions:
    """The keywords a cold start passes to a factory backend's fixture (``torch_optimize``...),
    checked as the fixture checks them without importing its runtime."""

    keywords: tuple[str, ...]
    choices: tuple[Choice, ...] = ()
    flags: tuple[tuple[str, bool], ...] = ()
    """Keywords that take True or False, with their defaults."""
    combination: Callable[[Mapping[str, Any]], None] | None = None
    """A check of the keywords taken together (``dtype='int8'`` needs ``mode='compile'``)."""

    def check(self, backend: str, fixture: str, options: Mapping[str, Any]) -> None:
        """Raise :class:`CpuperfUsageError` naming the first keyword ``fixture`` rejects."""
        unknown = sorted(set(options) - set(self.keywords))
        if unknown:
            raise CpuperfUsageError(
                f"cold_start options for backend {backend!r} are {fixture}'s keywords "
                f"({', '.join(self.keywords)}), got {', '.join(unknown)}")
        for choice in self.choices:
            check_choice(choice.name, options.get(choice.name, choice.default), choice.values)
        for name, default in self.flags:
            value = options.get(name, default)
            if not isinstance(value, bool):
                raise CpuperfUsageError(f"{name} must be True or False, got {value!r}")
        if self.combination is not None:
            self.combination(options)
        check_threads(options.get("threads"))
        check_label(options.get("label"))


@dataclass(frozen=True)
class Companion:
    """A file that must sit beside a model file of one ending (an IR's ``.bin`` weights)."""

    ending: str
    sibling: str
    what: str


class BackendModule(Protocol):
    """The functions every backend module defines, reached through its registry row.

    A cold start runs :func:`cold_compile` then :func:`first_inference` in a fresh process; the
    same-run reference is built by the module of the backend's reference family, in the
    layout :func:`reference_layout` reads from the measured model.
    """

    def cold_compile(self, model: Any, options: dict[str, Any]) -> CompiledModel:
        """Read and compile ``model`` (a file path, or a factory backend's built module) as the
        fixture would with ``options``: timed as ``compile_s``."""
        ...

    def first_inference(self, compiled: Any) -> Callable[[], Any]:
        """Bind example inputs and a request (untimed); the returned call is the timed first
        inference."""
        ...

    def reference_layout(self, measured: CompiledModel) -> tuple[Any, ...]:
        """The thread layout of ``measured`` that its same-run reference copies."""
        ...


class FileModule(BackendModule, Protocol):
    """A backend whose model is a file (OpenVINO, ONNX Runtime)."""

    def check_cold_options(self, options: Mapping[str, Any]) -> None:
        """The fixture's keyword checks for a cold start (imports no runtime)."""
        ...


class FactoryModule(BackendModule, Protocol):
    """A backend whose model is a factory of a ``torch.nn.Module`` (PyTorch, IPEX)."""

    def cold_build(self, factory: str) -> tuple[Any, float]:
        """The module ``"package.module:function"`` returns, and its parameters' MiB."""
        ...


class ReferenceModule(BackendModule, Protocol):
    """A backend that runs a same-run reference family."""

    def build_reference(self, spec: Any, layout: tuple[Any, ...],
                        progress: Progress | None) -> tuple[CompiledModel, str]:
        """The reference model ``spec`` compiled in ``layout``, and its identity (runtime,
        version, layout)."""
        ...


@dataclass(frozen=True)
class ArtifactSource:
    """The files a file backend compiled and the keywords that compile them again."""

    files: tuple[Path, ...]
    recipe: dict[str, Any]
    """The fixture keywords (``ov_compile``'s, ``ort_compile``'s) the files were compiled
    with, as JSON data; the model's path is the first of :attr:`files`."""


class ArtifactModule(FileModule, Protocol):
    """A file backend whose compiled models say what they were compiled from."""

    def artifact_source(self, compiled: Any) -> ArtifactSource | str:
        """The files and recipe of ``compiled``, or why it has none (compiled from an object,
        not a file)."""
        ...
