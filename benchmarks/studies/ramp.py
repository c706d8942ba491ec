"""How far below its compile's steady rate does benchmark_app's ``-t 6`` figure read?

``python -m benchmarks.studies.ramp [--compiles 20] [--seconds 6] [--steady 6]
[--model bert-base|tiny]``;
``python -m benchmarks.studies.ramp --stored benchmarks/results/ramp.json`` prints a stored series

The fidelity series (``trust``) read the plugin about 1% above benchmark_app. The
two differ in what comes before the timed window: benchmark_app's "first inference" runs one
request, and its timed loop starts right after it, so the other requests' first inferences and
whatever else settles after a compile fall inside its 6 s; the plugin runs every request once
(``async_first_inference``) and then warms up until the rate is steady. This measures the gap
on one compile at a time, so that compile luck (up to 5%, ``compile_spread``)
cancels: per fresh compile of the bert-base IR (``ov_compile`` defaults, as in the fidelity
series), benchmark_app's timed loop replayed in Python (its ``first_infer`` and
``async_inference_only``: iterations started / wall time to the drained queue), then, on the
same requests, ``--steady`` more seconds of ``pipelined_trials`` (the plugin's timing, after
its own warm-up). Per compile the ratio steady / benchmark_app-style, with the 95% CI over
compiles; the first completion of each request and per-second rates show where the gap lies.
The order of the two cannot alternate (benchmark_app's window is the one right after compile),
so a drift of the machine over the ~15 s of one compile would fold in; ``--control`` adds a
second benchmark_app-style window after the steady one, on the same compile, which reads the
same as the steady one if the gap is the ramp and not the drift.
Writes ``benchmarks/results/ramp.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ..common import FULL, QUICK, rounded, save_series, say
from ..fidelity import log_ratio_ci


def benchmark_app_window(queue: Any, seconds: float, batch_size: int) -> dict[str, Any]:
    """benchmark_app's async timed loop on ``queue``, one request already inferred: iterations
    started / time to the drained queue, each request's first latency, rates per second."""
    nireq = len(queue)
    clock = time.perf_counter
    seen: set[int] = set()
    first_latency: dict[int, float] = {}
    completions: list[float] = []
    iterations = 0
    begin = clock()
    while clock() - begin < seconds or iterations % nireq:
        idle = queue.get_idle_request_id()
        if idle in seen:
            completions.append(clock() - begin)
            first_latency.setdefault(idle, queue[idle].latency)
        seen.add(idle)
        queue.start_async()
        iterations += 1
    queue.wait_all()
    duration = clock() - begin
    for idle in seen:
        first_latency.setdefault(idle, queue[idle].latency)
    per_second = [sum(1 for t in completions if s <= t < s + 1) for s in range(int(seconds))]
    return {"fps": batch_size * iterations / duration, "iterations": iterations,
            "duration_s": round(duration, 4),
            "first_latency_ms": [round(first_latency[i], 2) for i in sorted(first_latency)],
            "per_second": per_second}


def one_compile(ir: Any, seconds: float, steady: float, control: bool) -> dict[str, Any]:
    """A fresh compile: the benchmark_app-style window, then the plugin's steady timing."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.measure.engine import EngineSettings, pipelined_trials, warm_up

    compiled = compile_model(ir, check_options())
    target = compiled.timing_target(compiled.example_inputs())
    queue = target.queue
    queue.start_async()  # benchmark_app's first_infer: one request
    queue.wait_all()
    app = benchmark_app_window(queue, seconds, target.batch_size)
    warm_up(target, EngineSettings())
    trials = pipelined_trials(target, 1.0, int(steady), None)
    steady_fps = (target.batch_size * sum(t.iterations for t in trials)
                  / sum(t.duration_s for t in trials))
    row = {"benchmark_app_style": app, "steady_fps": round(steady_fps, 3),
           "steady_per_trial": [round(t.throughput, 2) for t in trials],
           "ratio": steady_fps / app["fps"], "nireq": len(queue)}
    if control:
        row["control"] = benchmark_app_window(queue, seconds, target.batch_size)
        row["control_ratio"] = steady_fps / row["control"]["fps"]
    return row


def first_inference_excess_ms(row: dict[str, Any]) -> float:
    """How much longer the requests' first inferences in benchmark_app's window took than the
    window's mean latency (``nireq`` / FPS), summed over the requests; 0 where none was."""
    app = row["benchmark_app_style"]
    typical = 1000 * row["nireq"] / app["fps"]
    return sum(max(0.0, first - typical) for first in app["first_latency_ms"])


def cold_cost(rows: list[dict[str, Any]], seconds: float) -> str:
    """The first inferences' excess as a share of the window's stream time, mean and max."""
    excess = [first_inference_excess_ms(r) for r in rows]
    shares = [ms / (1000 * seconds * r["nireq"]) for ms, r in zip(excess, rows, strict=True)]
    return (f"first inferences in benchmark_app's window, longer than its mean latency by "
            f"{statistics.fmean(excess):.1f} ms summed over the requests (max "
            f"{max(excess):.1f}): {statistics.fmean(shares):.3%} of the window's stream time "
            f"(max {max(shares):.3%})")


def markdown(result: dict[str, Any], rows: list[dict[str, Any]], command: str) -> str:
    lines = [f"# benchmark_app's ramp, {result['model']}: {len(rows)} fresh compiles, a "
             f"{result['seconds']} s benchmark_app-style window then {result['steady']} s "
             f"steady", "", f"`{command}`", "",
             "| compile | benchmark_app-style FPS | first latency per request (ms) | "
             "per second | steady FPS | steady / app |" +
             (" control FPS | steady / control |" if result["control"] else ""),
             "|---|--:|---|---|--:|--:|" + ("--:|--:|" if result["control"] else "")]
    for i, row in enumerate(rows, 1):
        app = row["benchmark_app_style"]
        line = (f"| {i} | {app['fps']:.2f} | {app['first_latency_ms']} | {app['per_second']} | "
                f"{row['steady_fps']} | x{row['ratio']:.4f} |")
        if result["control"]:
            line += f" {row['control']['fps']:.2f} | x{row['control_ratio']:.4f} |"
        lines.append(line)
    ci = result["steady_over_app"]
    lines += ["", f"steady / benchmark_app-style: x{ci['mean']} (95% CI x{ci['low']}-"
                  f"x{ci['high']}, {ci['pairs']} compiles)"]
    lines.append(cold_cost(rows, result["seconds"]))
    if result["control"]:
        ci = result["steady_over_control"]
        lines.append(f"steady / the control window after it: x{ci['mean']} (95% CI "
                     f"x{ci['low']}-x{ci['high']})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.ramp",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--compiles", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--steady", type=float, default=6.0)
    parser.add_argument("--model", choices=("bert-base", "tiny"), default="bert-base")
    parser.add_argument("--control", action="store_true",
                        help="a second benchmark_app-style window after the steady one")
    parser.add_argument("--name", default="ramp")
    parser.add_argument("--stored", type=Path, metavar="JSON",
                        help="measure nothing: print a stored series' table and figures")
    args = parser.parse_args(argv)
    if args.stored:
        stored = json.loads(args.stored.read_text())
        print(markdown(stored["summary"], stored["runs"], stored["summary"]["command"]))
        return 0
    if args.compiles < 2 or args.seconds < 1 or args.steady < 1:
        parser.error("--compiles must be at least 2, --seconds and --steady at least 1")
    command = "python -m benchmarks.studies.ramp " + " ".join(argv or sys.argv[1:])
    ir = (FULL if args.model == "bert-base" else QUICK).reference.ir(progress=say)
    result: dict[str, Any] = {"model": args.model, "seconds": args.seconds,
                              "steady": args.steady, "control": args.control,
                              "command": command}
    rows: list[dict[str, Any]] = []
    for index in range(args.compiles):
        rows.append(one_compile(ir, args.seconds, args.steady, args.control))
        say(f"compile {index + 1}/{args.compiles}: app-style "
            f"{rows[-1]['benchmark_app_style']['fps']:.2f} FPS, steady {rows[-1]['steady_fps']} "
            f"(x{rows[-1]['ratio']:.4f})")
        if len(rows) >= 2:
            result["steady_over_app"] = log_ratio_ci([r["ratio"] for r in rows])
            if args.control:
                result["steady_over_control"] = log_ratio_ci([r["control_ratio"] for r in rows])
            result["ratio_log_sd"] = rounded(statistics.stdev(math.log(r["ratio"])
                                                              for r in rows))
            save_series(args.name, result, rows, markdown(result, rows, command))
    print(markdown(result, rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
