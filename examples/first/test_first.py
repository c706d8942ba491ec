"""A first performance test: a tiny BERT through OpenVINO, gated against a stored baseline.

It runs on any x86 CPU OpenVINO supports (no ISA requirement) and needs no file of yours: the
model is built from a config with seeded weights by ``pytest_cpuperf.models`` and cached.

    pytest --cpuperf --cpuperf-update    # measure and record the baseline
    pytest --cpuperf                     # measure again and judge against it
    FIRST_TEST_LAYERS=8 pytest --cpuperf # a slower model under the same test name: caught

``FIRST_TEST_LAYERS`` (default 2) exists for the tutorial: it stands for the change that made
your model slower.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

LAYERS_VARIABLE = "FIRST_TEST_LAYERS"


def layers_from_environment() -> int:
    """The tiny BERT's layer count: ``FIRST_TEST_LAYERS``, else 2."""
    text = os.environ.get(LAYERS_VARIABLE, "2")
    if not text.isdigit() or int(text) < 1:
        pytest.fail(f"{LAYERS_VARIABLE} must be a whole number of layers >= 1, e.g. 8; got "
                    f"{text!r}", pytrace=False)
    return int(text)


@pytest.fixture(scope="session")
def tiny_bert(cpuperf_progress: Callable[[str], None]) -> Path:
    """A tiny BERT (hidden 128, sequence 64), INT8, as an OpenVINO IR built once and cached."""
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec.tiny(layers=layers_from_environment()), progress=cpuperf_progress)


@pytest.mark.cpuperf(tolerance=0.10)
def test_tiny_bert_throughput(ov_compile, cpuperf, tiny_bert):
    model = ov_compile(tiny_bert)
    measurement = cpuperf.measure(model, name="tiny_bert")
    print(measurement)
