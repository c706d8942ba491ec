"""Shared fixtures: tiny real models, built once per session and cached on disk."""

from __future__ import annotations

import contextlib
from pathlib import Path

# pytester's in-process runs restore sys.modules afterwards; extension modules cannot be
# loaded twice, so the libraries the inner runs use are imported once here, up front.
import numpy  # noqa: F401
import pytest
import scipy.stats  # noqa: F401

import pytest_cpuperf.evaluate
import pytest_cpuperf.report
import pytest_cpuperf.store  # noqa: F401

with contextlib.suppress(ImportError):  # without the openvino extra
    import openvino  # noqa: F401


@pytest.fixture(scope="session")
def tiny_int8_ir() -> Path:
    """Tiny BERT (2 layers, hidden 128), INT8, dense weights."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(), sparsity=0.0)


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
