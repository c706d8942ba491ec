"""What a backend hands the engine: a compiled model and the primitive to time it.

A backend knows *what runs* (compile, bind inputs, read kernels); the engine knows *how it is
timed*. The two meet in one of two timing targets:

* :class:`AsyncTarget` - a queue of infer requests started without waiting (OpenVINO's
  ``AsyncInferQueue``), timed with benchmark_app's loop;
* :class:`SyncTarget` - a call that runs one inference and returns when it is done
  (PyTorch, IPEX), timed call by call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import CpuperfUsageError
from ..measure.measurement import KernelReport

if TYPE_CHECKING:
    import numpy as np

Inputs = Mapping[str, Any]


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
