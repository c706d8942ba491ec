"""Moving off IPEX: the same serving tests under IPEX (torch 2.8) and stock PyTorch (torch 2.13).

Intel Extension for PyTorch ends at 2.8 and runs only with torch 2.8; stock PyTorch's int8
(PT2E static quantization through torchao's X86InductorQuantizer, compiled by inductor with
freezing) wants a newer torch. The two never share a virtual environment, so the move is
measured by ``cpuperf ab`` with one Python each, on one machine, interleaved:

    cpuperf ab --head examples --base-python ipex-venv/bin/python \\
        --head-python stock-venv/bin/python -- migration/test_off_ipex.py

Both sides collect the same test ids and record the same metric names; what serves is picked
from what is installed: IPEX (jit-traced and frozen) where intel-extension-for-pytorch matches
the installed torch, stock ``torch.compile`` otherwise. The compiled model's label names the
path (``ipex-jit-int8`` or ``torch-compile-int8``), and the A/B report prints both sides'.

The model is the tiny BERT trained on the synthetic task (``pytest_cpuperf.models.synthetic``;
trained once per environment, cached), so the top-1 agreement of each side's int8 model with
its fp32 eager twin means something: a seeded random BERT's two logits lie too close together.
``OFF_IPEX_MODEL=bert-base`` serves bert-base (seq 64) from its config with seeded weights
instead: the serving figures are bert-base's, the agreement is only a weak check there (no
trained head), so replace :func:`served_model` with your own fine-tuned model.
See docs/how-to/move-off-ipex.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from pytest_cpuperf.backends.ipex import ipex_status
from pytest_cpuperf.models import BertSpec, build_torch_bert
from pytest_cpuperf.models.synthetic import (
    calibration_batches,
    inputs_only,
    load_trained,
    make_dataset,
)

MODEL = os.environ.get("OFF_IPEX_MODEL", "tiny")
"""``tiny`` (the trained 2-layer BERT, seconds) or ``bert-base`` (seeded weights, minutes)."""
SPECS = {"tiny": BertSpec.tiny(), "bert-base": BertSpec.bert_base(seq_len=64)}
HELD_OUT = 200
"""Seeded held-out sentences for the agreement check (training uses other seeds)."""
CALIBRATION = 16
"""Generated task sentences the int8 activation scales are calibrated on, on both sides."""
MIN_AGREEMENT = 0.98
PRECISIONS = ["int8", pytest.param("bf16", marks=pytest.mark.requires_isa("avx512_bf16"))]
"""int8 is the move this file is about; bf16 (IPEX bf16 + jit against bf16 ``torch.compile``)
is the other IPEX recipe in use."""
AGREEMENT_GATE = {"min_agreement": MIN_AGREEMENT} if MODEL == "tiny" else {}


def spec() -> BertSpec:
    if MODEL not in SPECS:
        pytest.fail(f"OFF_IPEX_MODEL must be one of {', '.join(SPECS)}, got {MODEL!r}",
                    pytrace=False)
    return SPECS[MODEL]


@pytest.fixture(scope="session")
def serving_path() -> str:
    """``ipex`` where intel-extension-for-pytorch matches the installed torch, else ``stock``
    (decided from package metadata: importing IPEX next to another torch exits the process)."""
    return "ipex" if ipex_status()[0] else "stock"


@pytest.fixture(scope="module")
def served_model(cpuperf_progress: Callable[[str], None]) -> Any:
    """The model both paths serve, in eval mode."""
    pytest.importorskip("transformers")
    if MODEL == "tiny":
        return load_trained(spec(), progress=cpuperf_progress)
    return build_torch_bert(spec())


@pytest.fixture(scope="module")
def serve(request: pytest.FixtureRequest, serving_path: str, served_model: Any
          ) -> Callable[[str], Any]:
    """``serve(precision)``: the served model prepared on this side's path, once per module
    (``ipex_optimize`` is asked for on the IPEX path only: elsewhere the fixture skips)."""
    optimize = request.getfixturevalue("ipex_optimize" if serving_path == "ipex"
                                       else "torch_optimize")
    example = (1, spec().seq_len)
    prepared: dict[str, Any] = {}

    def prepare(precision: str) -> Any:
        if precision not in prepared:
            calibration = (calibration_batches(spec(), CALIBRATION)
                           if precision == "int8" else None)
            if serving_path == "ipex":
                prepared[precision] = optimize(
                    served_model, dtype=precision, jit=True, example_inputs=example,
                    calibration=calibration)
            else:
                prepared[precision] = optimize(
                    served_model, mode="compile", dtype=precision, example_inputs=example,
                    calibration=calibration)
        return prepared[precision]

    return prepare


@pytest.fixture(scope="module")
def fp32_eager(served_model: Any, torch_optimize: Callable[..., Any]) -> Any:
    """The reference of the agreement check: stock eager fp32, on either side."""
    return torch_optimize(served_model, mode="eager", dtype="fp32",
                          example_inputs=(1, spec().seq_len), label="fp32-eager")


@pytest.fixture(scope="module")
def held_out() -> dict[str, np.ndarray]:
    """Seeded sentences of the synthetic task, the same on both sides."""
    return inputs_only(make_dataset(HELD_OUT, spec(), seed=1))


@pytest.mark.cpuperf(tolerance=0.10)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_serving_throughput(cpuperf, serve, precision):
    """Throughput and p90 latency of the serving path, as ``serving/*`` on both sides."""
    model = serve(precision)
    print(cpuperf.measure(model, name="serving").describe())


@pytest.mark.cpuperf(**AGREEMENT_GATE)
@pytest.mark.parametrize("precision", PRECISIONS)
def test_serving_agreement(cpuperf, serve, fp32_eager, held_out, precision):
    """Top-1 agreement (and cosine) of the serving path with fp32 eager on held-out inputs."""
    result = cpuperf.agreement(serve(precision), fp32_eager, held_out)
    print(result.describe())
