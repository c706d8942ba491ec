"""Overhead: the engine's async loop against a bare loop that only calls ``start_async``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .common import Profile, load, median, rounded, say


def bare_trial(queue: Any, seconds: float) -> float:
    """Throughput of a loop that does nothing but ``start_async`` (plus the final drain)."""
    start = queue.start_async
    clock = time.perf_counter
    iterations = 0
    begin = clock()
    deadline = begin + seconds
    while clock() < deadline:
        start()
        iterations += 1
    queue.wait_all()
    return iterations / (clock() - begin)


def run(profile: Profile, ir: Path) -> dict[str, Any]:
    """``overhead_rounds`` rounds of (plugin loop, bare loop), order alternating (ABBA)."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.measure.engine import async_first_inference, async_trial
    from pytest_cpuperf.stats.intervals import paired_ratio

    compiled = compile_model(ir, check_options())
    target = compiled.timing_target(compiled.example_inputs())
    async_first_inference(target)
    bare_trial(target.queue, 1.0)  # warm-up
    seconds = profile.overhead_trial_s
    plugin: list[float] = []
    bare: list[float] = []
    loads = []
    for round_no in range(profile.overhead_rounds):
        loads.append(load())
        steps = ["plugin", "bare"] if round_no % 2 == 0 else ["bare", "plugin"]
        for step in steps:
            if step == "plugin":
                plugin.append(async_trial(target, seconds, []).throughput)
            else:
                bare.append(bare_trial(target.queue, seconds))
    ratio = paired_ratio(plugin, bare)
    say(f"overhead: plugin/bare {ratio.describe()}")
    return {"ratio": rounded(ratio.ratio), "ci95": [rounded(ratio.low), rounded(ratio.high)],
            "ratio_of_medians": rounded(median(plugin) / median(bare)),
            "plugin_fps": [rounded(v) for v in plugin], "bare_fps": [rounded(v) for v in bare],
            "trial_s": seconds, "loads": loads, "within_target": ratio.ratio >= 0.99}
