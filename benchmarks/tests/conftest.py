"""Fixtures of the harness's tests: a tiny real model, built once and cached on disk."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_int8_ir() -> Path:
    """Tiny BERT (2 layers, hidden 128), INT8, dense weights."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(), sparsity=0.0)
