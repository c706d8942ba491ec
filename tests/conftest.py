"""Shared fixtures: tiny real models, built once per session and cached on disk."""

from __future__ import annotations

import contextlib
import shutil
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

# pytester's in-process runs restore sys.modules afterwards; extension modules cannot be
# loaded twice, so the libraries the inner runs use are imported once here, up front.
import numpy  # noqa: F401
import pytest
import scipy.stats  # noqa: F401

import pytest_cpuperf.judge.evaluate
import pytest_cpuperf.report
import pytest_cpuperf.store.baselines  # noqa: F401

with contextlib.suppress(ImportError):  # without the openvino extra
    import openvino  # noqa: F401


@pytest.fixture(scope="session")
def tiny_int8_ir() -> Path:
    """Tiny BERT (2 layers, hidden 128), INT8, dense weights."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(), sparsity=0.0)


@pytest.fixture(scope="session")
def reference_ir() -> Path:
    """The same-run reference's IR (measure/reference.py), built here so that in-process
    pytester runs find it cached (building imports torch, which cannot be imported twice)."""
    from pytest_cpuperf.measure.reference import reference_spec
    from pytest_cpuperf.models import build_ir

    return build_ir(reference_spec(), sparsity=0.0, int8=True)


@pytest.fixture(scope="session")
def tiny_sparse_int8_ir() -> Path:
    """Tiny BERT, 80% unstructured magnitude sparsity on encoder Linears, INT8."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(), sparsity=0.8)


@pytest.fixture(scope="session")
def slower_int8_ir() -> Path:
    """The tiny BERT with twice the layers: genuinely slower under the same test name."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(layers=4), sparsity=0.0)


def find_console_script(name: str) -> str | None:
    """The console script ``name`` of the running interpreter's environment, else on PATH."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    return shutil.which(name)


@pytest.fixture(scope="session")
def console_script() -> Callable[[str], str]:
    """``console_script("pytest-benchmark")``: its path in this environment; skips if absent."""

    def find(name: str) -> str:
        path = find_console_script(name)
        if path is None:
            pytest.skip(f"console script {name!r} is not installed in this environment "
                        f"({sysconfig.get_path('scripts')}) nor on PATH")
        return path

    return find
