"""Trial length: does cutting a run into short trials (each drained) lose throughput?

Each trial ends by draining the queue; while the last request runs, the other streams idle.
The loss per trial is about half a request latency on the idle streams, so short trials of a
slow model read low. Interleaved: ``rounds`` x (N trials of the default length, one trial of N
times that length), throughput = all iterations / all wall time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import Profile, load, rounded, say

LONG_FACTOR = 5


def _throughput(target: Any, seconds: float, count: int) -> float:
    from pytest_cpuperf.measure.engine import async_trial

    trials = [async_trial(target, seconds, []) for _ in range(count)]
    return sum(t.iterations * t.batch_size for t in trials) / sum(t.duration_s for t in trials)


def run(profile: Profile, ir: Path) -> dict[str, Any]:
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.defaults import DEFAULT_TRIAL_TIME_S
    from pytest_cpuperf.measure.engine import async_first_inference
    from pytest_cpuperf.stats.intervals import paired_ratio

    compiled = compile_model(ir, check_options())
    target = compiled.timing_target(compiled.example_inputs())
    async_first_inference(target)
    short: list[float] = []
    long: list[float] = []
    loads = []
    for round_no in range(profile.overhead_rounds):
        loads.append(load())
        for kind in (("short", "long") if round_no % 2 == 0 else ("long", "short")):
            if kind == "short":
                short.append(_throughput(target, DEFAULT_TRIAL_TIME_S, LONG_FACTOR))
            else:
                long.append(_throughput(target, DEFAULT_TRIAL_TIME_S * LONG_FACTOR, 1))
    ratio = paired_ratio(short, long)
    say(f"trial length: {LONG_FACTOR} x {DEFAULT_TRIAL_TIME_S:g} s / 1 x "
        f"{LONG_FACTOR * DEFAULT_TRIAL_TIME_S:g} s = {ratio.describe()}")
    return {"ratio": rounded(ratio.ratio), "ci95": [rounded(ratio.low), rounded(ratio.high)],
            "short_trial_s": DEFAULT_TRIAL_TIME_S,
            "long_trial_s": DEFAULT_TRIAL_TIME_S * LONG_FACTOR,
            "short_fps": [rounded(v) for v in short], "long_fps": [rounded(v) for v in long],
            "requests": len(target.queue), "loads": loads}
