"""Can a fidelity check cancel this machine's moment? Two identical runs, at once and in turn.

``python -m benchmarks.same_moment [--rounds 10] [--seconds 6] [--model bert-base|tiny]``

The fidelity target of issue #12 (plugin / benchmark_app within +-1.5%, 95% CI) is out of reach
of interleaved pairs on a VM whose speed moves within seconds: the log ratio of one pair has an
sd of 8-11% there (``benchmarks.trust``). This measures whether measuring both sides *at the
same moment*, each pinned to its own core, would cancel that. Each round runs two identical
``benchmark_app`` processes (1 stream x 1 thread, ``-t S``) once side by side (cores 0 and 1,
swapped every round) and once one after the other on one core. The same tool on both sides, so
any spread of their log ratio is the method's noise, not a bias. Prints and writes
``benchmarks/results/same-moment.json`` and ``.md``: the sd of the log ratio each way.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import BENCHMARK_APP, FULL, QUICK, save_series, say
from .fidelity import THROUGHPUT_LINE, default_shape


def start(ir: Path, shape: str | None, seconds: int, core: int) -> subprocess.Popen[str]:
    """One ``benchmark_app`` of one stream and one thread at ``shape``, pinned to ``core``."""
    command = [BENCHMARK_APP, "-m", str(ir), "-d", "CPU", "-hint", "none", "-nstreams", "1",
               "-nthreads", "1", "-t", str(seconds)]
    if shape:
        command += ["-shape", shape]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=lambda: os.sched_setaffinity(0, {core}))


def fps(proc: subprocess.Popen[str]) -> float:
    out, _ = proc.communicate()
    found = THROUGHPUT_LINE.search(out)
    if proc.returncode or not found:
        raise RuntimeError(f"benchmark_app failed ({proc.returncode}): {out[-2000:]}")
    return float(found.group(1))


def log_sd(pairs: list[tuple[float, float]]) -> float:
    return statistics.stdev(math.log(a / b) for a, b in pairs) if len(pairs) > 1 else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.same_moment",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--model", choices=("bert-base", "tiny"), default="bert-base")
    args = parser.parse_args(argv)
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        parser.error("needs two usable cores")
    ir = (FULL if args.model == "bert-base" else QUICK).reference.ir(progress=say)
    shape = default_shape(ir)
    together: list[tuple[float, float]] = []
    in_turn: list[tuple[float, float]] = []
    for n in range(args.rounds):
        first, second = (cores[0], cores[1]) if n % 2 == 0 else (cores[1], cores[0])
        a, b = start(ir, shape, args.seconds, first), start(ir, shape, args.seconds, second)
        together.append((fps(a), fps(b)))
        in_turn.append((fps(start(ir, shape, args.seconds, cores[0])),
                        fps(start(ir, shape, args.seconds, cores[0]))))
        say(f"round {n + 1}: side by side {together[-1][0]:.1f} / {together[-1][1]:.1f}, "
            f"in turn {in_turn[-1][0]:.1f} / {in_turn[-1][1]:.1f} FPS")
    summary: dict[str, Any] = {
        "model": args.model, "seconds": args.seconds, "rounds": args.rounds,
        "sd_log_ratio_side_by_side": round(log_sd(together), 4),
        "sd_log_ratio_in_turn": round(log_sd(in_turn), 4)}
    text = (f"Two identical benchmark_app runs (1 stream x 1 thread, {args.model}, "
            f"-t {args.seconds}), {args.rounds} rounds: sd of the log ratio side by side "
            f"(same moment, cores swapped each round) {summary['sd_log_ratio_side_by_side']:.1%}"
            f", one after the other on one core {summary['sd_log_ratio_in_turn']:.1%}.\n")
    save_series("same-moment", summary, [{"side_by_side": t, "in_turn": i}
                                         for t, i in zip(together, in_turn, strict=True)], text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
