"""Accuracy gates that run anywhere, offline: a tiny BERT trained on a synthetic task.

The task (``pytest_cpuperf.models.synthetic``) is sentiment by counting: some token ids are positive
words, some negative, the rest filler, and a sentence is positive when its positive words
outnumber its negative ones. A 2-layer BERT learns it in about 20 s on one core (cached after
the first run); its FP32 accuracy on held-out sentences is about 0.99.

* FP32 (kept in f32) is gated by a floor and against this machine's baseline;
* INT8, dense and 60% magnitude-pruned (without fine-tuning), must keep the accuracy within
  half a point of their baselines and above the floor, and agree with FP32 on >= 98% of
  sentences;
* a 95%-pruned model loses several points. ``test_candidate_accuracy`` gates "the model we
  ship", pruned to ``$CPUPERF_CANDIDATE_SPARSITY`` (default 0): record its baseline, then rerun
  with ``CPUPERF_CANDIDATE_SPARSITY=0.95`` to watch the gate fail, naming the accuracy drop.

Run: ``pytest --cpuperf examples/accuracy/test_synthetic_accuracy.py`` (add
``--cpuperf-update`` once to record the baselines).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

from pytest_cpuperf.measure.accuracy import evaluate_accuracy
from pytest_cpuperf.models import BertSpec
from pytest_cpuperf.models.synthetic import inputs_only, make_dataset, trained_ir

SPEC = BertSpec.tiny()
MIN_ACCURACY = 0.95
"""Floor for every gated model; FP32 scores about 0.99 on this task."""
HELD_OUT = 2000
CANDIDATE_SPARSITY = float(os.environ.get("CPUPERF_CANDIDATE_SPARSITY", "0"))


@pytest.fixture(scope="module")
def held_out() -> dict[str, np.ndarray]:
    """Sentences the model never saw (training uses another seed)."""
    return make_dataset(HELD_OUT, SPEC, seed=1)


@pytest.fixture(scope="module")
def fp32(ov_compile, cpuperf_progress: Callable[[str], None]):
    """The trained model in FP32, computed in f32 (the CPU plugin may otherwise pick bf16)."""
    return ov_compile(trained_ir(SPEC, int8=False, progress=cpuperf_progress),
                      precision="f32", label="synthetic fp32")


@pytest.mark.cpuperf(accuracy_tolerance=0.005, min_accuracy=MIN_ACCURACY)
def test_fp32_accuracy(cpuperf, fp32, held_out):
    result = cpuperf.accuracy(fp32, held_out, metric="accuracy")
    print(result.describe())


@pytest.mark.cpuperf(accuracy_tolerance=0.005, min_accuracy=MIN_ACCURACY, min_agreement=0.98)
@pytest.mark.parametrize("sparsity", [0.0, 0.6], ids=lambda s: f"int8-sparse{round(s * 100)}")
def test_int8_accuracy(cpuperf, ov_compile, fp32, held_out, sparsity,
                       cpuperf_progress: Callable[[str], None]):
    """INT8 (NNCF, calibrated on the task) after pruning ``sparsity`` of the encoder weights."""
    path = trained_ir(SPEC, sparsity=sparsity, progress=cpuperf_progress)
    int8 = ov_compile(path, label=f"synthetic int8 sparse{round(sparsity * 100)}")
    result = cpuperf.accuracy(int8, held_out)
    print(result.describe())
    print(cpuperf.agreement(int8, fp32, inputs_only(held_out)).describe())


@pytest.mark.cpuperf(accuracy_tolerance=0.005)
def test_candidate_accuracy(cpuperf, ov_compile, held_out,
                            cpuperf_progress: Callable[[str], None]):
    """The model we ship: INT8, pruned to $CPUPERF_CANDIDATE_SPARSITY; held to its baseline."""
    path = trained_ir(SPEC, sparsity=CANDIDATE_SPARSITY, progress=cpuperf_progress)
    print(cpuperf.accuracy(ov_compile(path, label="candidate"), held_out).describe())


def test_overpruned_model_falls_below_the_floor(ov_compile, fp32, held_out,
                                                cpuperf_progress: Callable[[str], None]):
    """What the gate is for: 95% magnitude sparsity without fine-tuning costs several points
    (asserted directly here; see test_candidate_accuracy to watch the gate fail)."""
    pruned = ov_compile(trained_ir(SPEC, sparsity=0.95, progress=cpuperf_progress))
    reference = evaluate_accuracy(fp32, held_out).value
    value = evaluate_accuracy(pruned, held_out).value
    assert value < MIN_ACCURACY < reference, (value, reference)
