"""Turns of interleaved measurements: their length; a settle pause only after spinning threads."""

from __future__ import annotations

import pytest

from pytest_cpuperf.measure.settings import EngineSettings
from pytest_cpuperf.measure.turns import TURN_S, in_turns, settle_after


def test_in_turns_keeps_the_measuring_time_in_quarter_second_turns() -> None:
    """The user's 5 x 1 s per side become 20 turns of 0.25 s; OpenVINO models take turns with
    no settle pause, ONNX Runtime's (spinning threads) keep it; short turns stay as set."""
    default = EngineSettings()
    fast = in_turns(default, ("openvino", "openvino"))
    assert (fast.trials, fast.trial_time_s, fast.settle_s) == (20, TURN_S, 0.0)
    assert fast.trials * fast.trial_time_s == default.trials * default.trial_time_s
    assert in_turns(default, ("onnxruntime", "onnxruntime")).settle_s == default.settle_s
    short = EngineSettings(trials=3, trial_time_s=0.1)
    assert in_turns(short, ("openvino", "openvino")) == short


@pytest.mark.parametrize(("backends", "pause"), [
    (["openvino"], 0.0),
    (["openvino", "openvino"], 0.0),
    (["torch"], 0.3),
    (["ipex"], 0.3),
    (["openvino", "onnxruntime"], 0.3),  # one spinning model is enough
    ([], 0.3),  # nothing known: the pause
])
def test_settle_only_after_threads_that_spin(backends: list[str], pause: float) -> None:
    assert settle_after(backends, 0.3) == pause
