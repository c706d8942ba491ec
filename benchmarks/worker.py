"""One measurement in a fresh process: ``python -m benchmarks.worker IR OUT --trials N``.

Compiles the IR as ``ov_compile`` does (default options) and measures it with the engine's
default trial time and warm-up, keeping ``N`` trials (more than the default, so that prefixes
of the samples can be replayed offline). Writes the samples and a breakdown of the time spent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()


Stamp = tuple[str, float, float]
"""(engine progress message, wall clock, process CPU clock)."""


def _stamps() -> tuple[list[Stamp], Any]:
    stamps: list[Stamp] = []

    def progress(message: str) -> None:
        stamps.append((message, time.perf_counter(), time.process_time()))

    return stamps, progress


def _stamp_kernels(compiled: Any, progress: Any) -> None:
    """Stamp the start of the kernels pass, which the engine runs right after the last trial."""
    kernels = compiled.kernels

    def stamped() -> Any:
        progress("kernels")
        return kernels()

    compiled.kernels = stamped


def _trial_cpu(stamps: list[Stamp]) -> list[float]:
    """Process CPU seconds of each trial: from its stamp to the next one (a trial repeated
    because it was contended is stamped again: its last stamp counts)."""
    last = {s[0]: s for s in stamps if s[0].startswith("trial ") or s[0] == "kernels"}
    marks = sorted(last.values(), key=lambda s: s[1])
    return [b[2] - a[2] for a, b in itertools.pairwise(marks)]


def measure(ir: Path, trials: int) -> dict[str, Any]:
    """Compile and measure ``ir``; the phases are timed from the engine's progress messages."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.measure.engine import EngineSettings, measure

    load_before = os.getloadavg()
    imported = time.perf_counter()
    compiled = compile_model(ir, check_options())
    compiled_at = time.perf_counter()
    stamps, progress = _stamps()
    _stamp_kernels(compiled, progress)
    result = measure(compiled, settings=EngineSettings(trials=trials), progress=progress)
    finished = time.perf_counter()
    wall = {m: t for m, t, _ in stamps}
    first_trial = next(t for m, t, _ in stamps if m.startswith("trial 1/"))
    cpu = _trial_cpu(stamps)
    cores = len(os.sched_getaffinity(0))
    return {
        "samples": list(result.throughputs),
        "corrected_samples": list(result.corrected_throughputs),
        "busy": [t.busy for t in result.trials],
        "starved": [t.starved for t in result.trials],
        "trial_durations_s": [t.duration_s for t in result.trials],
        "cpu_samples": [t.iterations * t.batch_size / c
                        for t, c in zip(result.trials, cpu, strict=True)],
        "cpu_share": [c / (t.duration_s * cores) for t, c in zip(result.trials, cpu, strict=True)],
        "requests": result.requests,
        "kernels": result.kernels.summary() if result.kernels else None,
        "versions": dict(result.versions),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "times_s": {
            "startup_import": imported - STARTED,
            "compile": compiled_at - imported,
            "warmup": first_trial - stamps[0][1],
            "kernels_pass": finished - wall["kernels"],
        },
        "warmup_setting_s": result.warmup_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("ir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--trials", type=int, required=True)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(measure(args.ir, args.trials)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
