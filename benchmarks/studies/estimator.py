"""The median trial against samples over time, on the same trials of the same measurements.

``python -m benchmarks.studies.estimator [--measurements 80] [--trials 6] [--model bert-base|tiny]``

benchmark_app's "Throughput" is iterations over the time they took. Until this round the
plugin's figure was the median of its trials' rates. The two read alike when the machine's
rate is symmetric around its typical value, but a machine whose rate dips now and then (the
trials' log rates are skewed to the left) has its dips in the time average and not in the
median. This measures the gap where it cannot be a difference of moments: for each of
``--measurements`` plugin measurements of one compile (``engine.measure``, the default
warm-up, ``--trials`` trials of 1 s), the median trial over the samples over time of the very
same trials; the 95% t-interval of the mean log ratio; and the skew of the trials' log rates.
Writes ``benchmarks/results/estimator.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from typing import Any

from ..common import FULL, QUICK, rounded, save_series, say
from ..fidelity import log_ratio_ci


def skew(values: list[float]) -> float:
    """The sample skewness of ``values`` (0.0 when they do not vary)."""
    mean, sd = statistics.fmean(values), statistics.pstdev(values)
    if sd == 0:
        return 0.0
    return sum((v - mean) ** 3 for v in values) / len(values) / sd ** 3


def one_measurement(compiled: Any, trials: int) -> dict[str, Any]:
    """A default plugin measurement: its trials, the median trial and samples over time."""
    from pytest_cpuperf.measure.engine import EngineSettings, measure

    m = measure(compiled, settings=EngineSettings(trials=trials))
    rates = list(m.throughputs)
    return {"trials": [rounded(r) for r in rates],
            "durations_s": [round(t.duration_s, 4) for t in m.trials],
            "median_trial": rounded(statistics.median(rates)),
            "samples_over_time": rounded(m.throughput),
            "ratio": statistics.median(rates) / m.throughput,
            "skew_of_log_rates": rounded(skew([math.log(r) for r in rates])),
            "repeated_trials": len(m.dropped)}


def summary(rows: list[dict[str, Any]], model: str, trials: int, command: str
            ) -> dict[str, Any]:
    return {"model": model, "trials": trials, "command": command,
            "median_over_time": log_ratio_ci([r["ratio"] for r in rows]),
            "higher": sum(r["ratio"] > 1 for r in rows), "lower": sum(r["ratio"] < 1 for r in rows),
            "mean_skew_of_log_rates": rounded(statistics.fmean(r["skew_of_log_rates"]
                                                               for r in rows))}


def markdown(result: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    ci = result["median_over_time"]
    lines = [f"# The median trial against samples over time, {result['model']}: "
             f"{len(rows)} measurements of {result['trials']} trials", "",
             f"`{result['command']}`", "",
             f"median trial / samples over time: x{ci['mean']} (95% CI x{ci['low']}-"
             f"x{ci['high']}); higher in {result['higher']}, lower in {result['lower']}; mean "
             f"skew of the trials' log rates {result['mean_skew_of_log_rates']}", "",
             "| measurement | trials (samples/s) | median trial | samples over time | ratio |",
             "|--:|---|--:|--:|--:|"]
    lines += [f"| {i} | {r['trials']} | {r['median_trial']} | {r['samples_over_time']} | "
              f"x{r['ratio']:.4f} |" for i, r in enumerate(rows, 1)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.estimator",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--measurements", type=int, default=80)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--model", choices=("bert-base", "tiny"), default="bert-base")
    parser.add_argument("--name", default="estimator")
    args = parser.parse_args(argv)
    if args.measurements < 2 or args.trials < 2:
        parser.error("--measurements and --trials must be at least 2")
    from pytest_cpuperf.backends.openvino import check_options, compile_model

    command = "python -m benchmarks.studies.estimator " + " ".join(argv or sys.argv[1:])
    ir = (FULL if args.model == "bert-base" else QUICK).reference.ir(progress=say)
    compiled = compile_model(ir, check_options())
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    for index in range(args.measurements):
        rows.append(one_measurement(compiled, args.trials))
        say(f"measurement {index + 1}/{args.measurements}: median trial "
            f"{rows[-1]['median_trial']}, samples over time {rows[-1]['samples_over_time']} "
            f"(x{rows[-1]['ratio']:.4f})")
        if len(rows) >= 2:
            result = summary(rows, args.model, args.trials, command)
            save_series(args.name, result, rows, markdown(result, rows))
    print(markdown(result, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
