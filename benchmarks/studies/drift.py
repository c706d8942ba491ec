"""How fast does this machine's rate drift, and which interleaving cancels it?

``python -m benchmarks.studies.drift [--seconds 300] [--model bert-base|tiny]``

Why ``slices`` takes turns every 0.25 s. One compile (``ov_compile`` defaults) runs
pipelined for ``--seconds`` while every completion's time is kept. From that one trace: the sd
and lag-1 autocorrelation of the per-second rates, and the sd of an A/A "pair" of 12 s (the same
model on both sides, so any difference is the machine) when the 12 s are split between the two
sides in halves of 6 s (the design of ``trust``) or in A-B-A-B and A-B-B-A slices of
0.25-3 s. Writes ``benchmarks/results/drift.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import statistics
import sys
import time
from typing import Any

from ..common import FULL, QUICK, rounded, save_series, say

PAIR_S = 12.0
SLICES_S = (0.25, 0.5, 1.0, 2.0, 3.0, 6.0)


def trace(compiled: Any, seconds: float) -> list[float]:
    """The time of every completion of a full queue over ``seconds``, after one round."""
    target = compiled.timing_target(compiled.example_inputs())
    queue = target.queue
    for _ in range(2 * len(queue)):
        queue.get_idle_request_id()
        queue.start_async()
    clock, stamps = time.perf_counter, []
    begin = clock()
    while clock() - begin < seconds:
        queue.get_idle_request_id()
        stamps.append(clock() - begin)
        queue.start_async()
    queue.wait_all()
    return stamps


def per_second(stamps: list[float]) -> list[int]:
    return [bisect.bisect_left(stamps, s + 1) - bisect.bisect_left(stamps, s)
            for s in range(int(stamps[-1]))]


def lag1(values: list[float]) -> float:
    mean = statistics.fmean(values)
    top = sum((a - mean) * (b - mean) for a, b in itertools.pairwise(values))
    return top / sum((v - mean) ** 2 for v in values)


def pair_sd(stamps: list[float], slice_s: float, pattern: str) -> float:
    """The sd of log(A / B) over consecutive 12 s pairs cut into slices of ``slice_s``."""
    def count(start: float) -> int:
        return bisect.bisect_left(stamps, start + slice_s) - bisect.bisect_left(stamps, start)

    ratios, start = [], 0.0
    slices = round(PAIR_S / slice_s)
    while start + PAIR_S <= stamps[-1]:
        a = b = 0
        for i in range(slices):
            side_a = i % 2 == 0 if pattern == "ABAB" else i % 4 in (0, 3)
            if side_a:
                a += count(start + i * slice_s)
            else:
                b += count(start + i * slice_s)
        ratios.append(math.log(a / b))
        start += PAIR_S
    return statistics.stdev(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.drift",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--model", choices=("bert-base", "tiny"), default="bert-base")
    args = parser.parse_args(argv)
    if args.seconds < 3 * PAIR_S:
        parser.error(f"--seconds must be at least {3 * PAIR_S:g}: three pairs of {PAIR_S:g} s")
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    command = "python -m benchmarks.studies.drift " + " ".join(argv or sys.argv[1:])
    ir = (FULL if args.model == "bert-base" else QUICK).reference.ir(progress=say)
    stamps = trace(compile_model(ir, check_options()), args.seconds)
    rates = [float(r) for r in per_second(stamps)]
    logs = [math.log(r) for r in rates]
    pairs = {f"{pattern} {s:g} s": rounded(pair_sd(stamps, s, pattern))
             for s in SLICES_S for pattern in ("ABAB", "ABBA")}
    result = {"model": args.model, "command": command, "seconds": args.seconds,
              "mean_fps": rounded(len(stamps) / stamps[-1]),
              "per_second_sd": rounded(statistics.stdev(rates) / statistics.fmean(rates)),
              "per_second_lag1": rounded(lag1(logs)), "pair_s": PAIR_S,
              "aa_pair_sd_of_log": pairs}
    lines = [f"# Drift of one {args.model} compile over {args.seconds:g} s", "", f"`{command}`",
             "", f"mean {result['mean_fps']} FPS; per-second rates: sd "
             f"{result['per_second_sd']:.1%}, lag-1 autocorrelation {result['per_second_lag1']}",
             "", f"| {PAIR_S:g} s A/A pair split into | sd of log(A / B) |", "|---|--:|"]
    lines += [f"| {name} slices | {sd:.2%} |" for name, sd in pairs.items()]
    text = "\n".join(lines) + "\n"
    save_series("drift", result, [{"per_second": rates}], text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
