"""The backends the plugin knows: one entry each, from which the plugin makes its fixtures.

An entry names the fixture users request, where its factory lives (imported only when a test
uses the fixture), the distributions whose versions every report shows, and a check, from
package metadata alone, that says why the backend cannot run here. Adding a backend is one
module in this package and one :class:`Backend` row in :data:`BACKENDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..versions import package_version

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

    def available(self) -> tuple[bool, str]:
        """``(usable, reason)`` without importing the runtime."""
        missing = [name for name in self.requires if package_version(name) is None]
        if missing:
            return False, (f"{self.name} backend unavailable: {', '.join(missing)} not "
                           f"installed (pip install 'pytest-cpuperf[{self.extra}]')")
        if self.check is not None:
            return self.check()
        return True, f"{self.name} backend available"

    def load(self) -> Callable[[Callable[[str], None]], Factory]:
        """The factory's maker, imported now."""
        module, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


def _ipex_check() -> tuple[bool, str]:
    from .ipex import ipex_status

    return ipex_status()


def _ort_check() -> tuple[bool, str]:
    from .onnxruntime import ort_status

    return ort_status()


BACKENDS: tuple[Backend, ...] = (
    Backend("openvino", "ov_compile", "pytest_cpuperf.backends.openvino:OVCompiler",
            packages=("openvino", "nncf", "optimum-intel"), extra="openvino",
            requires=("openvino",),
            doc="Compile an OpenVINO model (IR or ONNX path, ``openvino.Model`` or Hugging Face "
                "directory) for CPU in a named configuration: ``ov_compile(model, "
                "sparse_rate=0.75, streams=2, hint='throughput')``; equal calls share one "
                "compile."),
    Backend("torch", "torch_optimize", "pytest_cpuperf.backends.torch:make_optimizer",
            packages=("torch", "transformers"), extra="torch", requires=("torch",),
            doc="Stock PyTorch twin of ``ipex_optimize``: ``torch_optimize(model, "
                "mode='eager'|'jit'|'compile', dtype='fp32'|'bf16', threads=None)``."),
    Backend("ipex", "ipex_optimize", "pytest_cpuperf.backends.ipex:make_optimizer",
            packages=("intel-extension-for-pytorch",), extra="ipex",
            requires=("torch",), check=_ipex_check,
            doc="Optimize a PyTorch model with IPEX: ``ipex_optimize(model, dtype='bf16', "
                "jit=True, example_inputs=...)``; skips with the reason when IPEX and torch "
                "do not match."),
    Backend("onnxruntime", "ort_compile", "pytest_cpuperf.backends.onnxruntime:ORTCompiler",
            packages=("onnxruntime",), extra="onnxruntime", check=_ort_check,
            doc="Open an ONNX model in ONNX Runtime (CPU execution provider): "
                "``ort_compile(path, threads=2, graph_optimization='all')``; equal calls share "
                "one session."),
)


def by_fixture(name: str) -> Backend:
    return next(b for b in BACKENDS if b.fixture == name)


def reported_packages() -> tuple[str, ...]:
    """Every distribution whose version a report shows: the plugin and each backend's."""
    names = ["pytest-cpuperf", "transformers"]
    for backend in BACKENDS:
        names += [p for p in backend.packages if p not in names]
    return tuple(names)
