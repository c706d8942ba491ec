"""The backends the plugin knows: one entry each, from which the plugin makes its fixtures.

An entry names the fixture users request, where its factory lives (imported only when a test
uses the fixture), the distributions whose versions every report shows, a check, from
package metadata alone, that says why the backend cannot run here, and what the rest of the
plugin needs to know without importing the runtime: the files a cold start reads or the
keywords it passes, the same-run reference family. The rest is the functions of the backend's
module (:class:`~.base.BackendModule`), imported when they run. Adding a backend is one
module in this package and one :class:`Backend` row in :data:`BACKENDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..progress import Progress
from ..versions import package_version
from .base import (
    ArtifactModule,
    ArtifactSource,
    BackendModule,
    BackendUnavailable,
    Choice,
    Companion,
    FactoryOptions,
    FileModule,
)
from .ipex import DTYPES as IPEX_DTYPES  # imports neither torch nor IPEX
from .ipex import ipex_status

# backends.torch's choices and combination check, from a module that imports no torch (an
# in-process pytester run must not import torch: it cannot be imported twice)
from .torch_options import DTYPES as TORCH_DTYPES
from .torch_options import MODES as TORCH_MODES
from .torch_options import check_options as check_torch_options

if TYPE_CHECKING:  # each row's module implements its seams: checked by mypy, never run
    from . import ipex, onnxruntime, openvino, torch
    from .base import FactoryModule, ReferenceModule

    _FILE_MODULES: tuple[FileModule, ...] = (openvino, onnxruntime)
    _ARTIFACT_MODULES: tuple[ArtifactModule, ...] = (openvino, onnxruntime)
    _FACTORY_MODULES: tuple[FactoryModule, ...] = (torch, ipex)
    _REFERENCE_MODULES: tuple[ReferenceModule, ...] = (openvino, torch)

Availability = Callable[[], tuple[bool, str]]
Factory = Callable[..., Any]


@dataclass(frozen=True)
class Backend:
    """One runtime: its fixture, its factory and how to tell whether it can run here."""

    name: str
    fixture: str
    factory: str
    """``module:attribute`` of a callable taking ``progress`` and returning the fixture's
    value (a callable that compiles or optimizes a model)."""
    packages: tuple[str, ...]
    """Distributions whose versions go into every report and baseline run."""
    extra: str
    """The ``pytest-cpuperf[extra]`` that installs it."""
    doc: str
    requires: tuple[str, ...] = ()
    """Distributions that must be installed (checked from metadata, never imported)."""
    check: Availability | None = None
    """A finer check than ``requires`` (IPEX: the torch of its own major.minor)."""
    runtime: str = ""
    """The module a cold start imports first, timed apart (``import_s``)."""
    model_files: tuple[str, ...] = ()
    """Endings of the model files a cold start reads; none: its model is a factory of a
    ``torch.nn.Module``, built in each fresh process."""
    companions: tuple[Companion, ...] = ()
    """Files that must sit beside a model file (and count in its size)."""
    factory_options: FactoryOptions | None = None
    """A factory backend's cold-start keywords, checked without importing its runtime."""
    preflight: bool = False
    """Whether :attr:`check` runs before any cold-start process (IPEX exits a process whose
    torch does not match)."""
    reference: str = ""
    """The backend whose module builds the same-run reference this one is measured against."""
    probe_reference: bool = False
    """On a reference family's row: under ``--cpuperf-reference auto`` its models are probed
    and measured without the reference when much faster than it."""
    extends: str = ""
    """The backend whose runtime this one extends (its runs record that runtime's version
    too, and this backend's name in their config or versions)."""

    def available(self) -> tuple[bool, str]:
        """``(usable, reason)`` without importing the runtime."""
        missing = [name for name in self.requires if package_version(name) is None]
        if missing:
            return False, (f"{self.name} backend unavailable: {', '.join(missing)} not "
                           f"installed (pip install 'pytest-cpuperf[{self.extra}]')")
        if self.check is not None:
            return self.check()
        return True, f"{self.name} backend available"

    def load(self) -> Callable[[Progress], Factory]:
        """The factory's maker, imported now."""
        module, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]

    @property
    def module(self) -> str:
        """The backend's module (where its factory lives)."""
        return self.factory.partition(":")[0]

    def hooks(self) -> BackendModule:
        """The backend's module, imported now (and its runtime with it, for some)."""
        return cast(BackendModule, importlib.import_module(self.module))

    def check_cold_options(self, options: Mapping[str, Any]) -> None:
        """The fixture's checks of a cold start's keywords, without importing the runtime."""
        if self.factory_options is not None:
            self.factory_options.check(self.name, self.fixture, options)
        else:
            cast(FileModule, self.hooks()).check_cold_options(options)

    def require(self) -> None:
        """Raise :class:`~.base.BackendUnavailable` when :attr:`preflight` finds the backend
        unusable here."""
        if self.preflight and self.check is not None:
            usable, reason = self.check()
            if not usable:
                raise BackendUnavailable(reason)


def _ort_check() -> tuple[bool, str]:
    from .onnxruntime import ort_status

    return ort_status()


BACKENDS: tuple[Backend, ...] = (
    Backend("openvino", "ov_compile", "pytest_cpuperf.backends.openvino:OVCompiler",
            packages=("openvino", "nncf", "optimum-intel"), extra="openvino",
            requires=("openvino",), runtime="openvino", model_files=(".xml", ".onnx"),
            companions=(Companion(".xml", ".bin", "IR weights"),), reference="openvino",
            doc="Compile an OpenVINO model (IR or ONNX path, ``openvino.Model`` or Hugging Face "
                "directory) for CPU in a named configuration: ``ov_compile(model, "
                "sparse_rate=0.75, streams=2, hint='throughput')``; equal calls share one "
                "compile."),
    Backend("torch", "torch_optimize", "pytest_cpuperf.backends.torch:make_optimizer",
            packages=("torch", "transformers"), extra="torch", requires=("torch",),
            runtime="torch", reference="torch", probe_reference=True,
            factory_options=FactoryOptions(
                keywords=("mode", "dtype", "example_inputs", "threads", "label",
                          "quantization", "calibration"),
                choices=(Choice("mode", "eager", TORCH_MODES),
                         Choice("dtype", "fp32", TORCH_DTYPES)),
                combination=check_torch_options),
            doc="Stock PyTorch twin of ``ipex_optimize``: ``torch_optimize(model, "
                "mode='eager'|'jit'|'compile', dtype='fp32'|'bf16'|'int8', threads=None)``; "
                "int8 (``mode='compile'``) is PT2E quantization with torchao, "
                "``quantization='static'|'dynamic'``."),
    Backend("ipex", "ipex_optimize", "pytest_cpuperf.backends.ipex:make_optimizer",
            packages=("intel-extension-for-pytorch",), extra="ipex",
            requires=("torch",), check=ipex_status, preflight=True,
            runtime="intel_extension_for_pytorch", reference="torch", extends="torch",
            factory_options=FactoryOptions(
                keywords=("dtype", "jit", "example_inputs", "calibration", "threads", "label"),
                choices=(Choice("dtype", "fp32", IPEX_DTYPES),), flags=(("jit", True),)),
            doc="Optimize a PyTorch model with IPEX: ``ipex_optimize(model, dtype='bf16', "
                "jit=True, example_inputs=...)``; skips with the reason when IPEX and torch "
                "do not match."),
    Backend("onnxruntime", "ort_compile", "pytest_cpuperf.backends.onnxruntime:ORTCompiler",
            packages=("onnxruntime",), extra="onnxruntime", check=_ort_check,
            runtime="onnxruntime", model_files=(".onnx",), reference="openvino",
            doc="Open an ONNX model in ONNX Runtime (CPU execution provider): "
                "``ort_compile(path, threads=2, graph_optimization='all')``; equal calls share "
                "one session."),
)


def by_fixture(name: str) -> Backend:
    return next(b for b in BACKENDS if b.fixture == name)


def by_name(name: str) -> Backend:
    """The row of backend ``name``; :class:`LookupError` for a name no row has."""
    for backend in BACKENDS:
        if backend.name == name:
            return backend
    raise LookupError(f"no backend {name!r} (known: {', '.join(b.name for b in BACKENDS)})")


def cold_start_backends() -> tuple[Backend, ...]:
    """Backends a cold start runs for: those reading a model file, then factory backends."""
    cold = [b for b in BACKENDS if b.runtime]
    return (*(b for b in cold if b.model_files), *(b for b in cold if not b.model_files))


def recorded_backend(config: Mapping[str, Any], versions: Mapping[str, str]) -> str:
    """The backend that ran, from a measurement's config and versions ("unknown" if none):
    a backend that extends another first, by its name in either; the others by their
    runtime's version."""
    for backend in (*(b for b in BACKENDS if b.extends), *(b for b in BACKENDS if not b.extends)):
        if backend.name in versions or (backend.extends and backend.name in config):
            return backend.name
    return "unknown"


NO_FILE_ARTIFACT = "no artifact: {backend} models are judged on the stored figure"
"""Why a factory backend's measurement has no artifact (its model is a ``torch.nn.Module``)."""


def artifact_source(compiled: Any) -> ArtifactSource | str:
    """The files and compile recipe of ``compiled`` (a file backend's model read from a file),
    or why it has none."""
    try:
        backend = by_name(str(getattr(compiled, "backend", "")))
    except LookupError as exc:
        return f"no artifact: {exc}"
    if not backend.model_files:
        return NO_FILE_ARTIFACT.format(backend=backend.extends or backend.name)
    return cast(ArtifactModule, backend.hooks()).artifact_source(compiled)


def compile_artifact(backend: str, model: Path, recipe: Mapping[str, Any]) -> Any:
    """``model`` compiled by ``backend`` with the keywords of ``recipe``, as its fixture
    would (:class:`~pytest_cpuperf.errors.CpuperfUsageError` when it rejects them)."""
    return by_name(backend).hooks().cold_compile(model, dict(recipe))


def reported_packages() -> tuple[str, ...]:
    """Every distribution whose version a report shows: the plugin and each backend's."""
    names = ["pytest-cpuperf", "transformers"]
    for backend in BACKENDS:
        names += [p for p in backend.packages if p not in names]
    return tuple(names)
