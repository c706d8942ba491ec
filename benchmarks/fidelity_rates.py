"""Fidelity at every rate: interleaved turns (the same-run reference's, or A/B) against
benchmark_app, on a slow and a fast model, with a turn clocked whole or by its window.

Each pair runs benchmark_app (``-hint throughput -t S``) and the plugin's interleaved loop
(model turns of the default trial length alternating with the reference's shorter turns,
each at least ``MIN_ROUNDS_PER_TURN`` rounds of its requests, settle gaps between them, as
``cpuperf.measure`` runs with the reference on) twice: with each turn clocked from its first
start to the end of its drain (:func:`async_trial`, benchmark_app's loop cut into turns) and
by its window (:func:`drained_trial`, the engine's).
The order within a pair rotates. Prints the median ratio plugin / benchmark_app per model and
clock, with a 95% interval over the pairs, and writes them with every pair to
``benchmarks/results/<name>.json``.

``--long-seconds L`` adds ``benchmark_app -t L`` to every pair, where benchmark_app's own fill
and drain weigh ``seconds / L`` as much: at a rate of a few samples a second, one request's
latency is a large part of a 6 s run, and the long run tells which clock reads the steady rate.

    python -m benchmarks.fidelity_rates --pairs 5 --seconds 6 [--long-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import save_series, say
from .fidelity import _compile, benchmark_app

MODELS: dict[str, dict[str, Any]] = {
    # bert-base int8 at sequence 384: about ten samples a second on two cores without AMX
    "slow": {"spec": {"layers": 12, "hidden": 768, "heads": 12, "intermediate": 3072,
                      "vocab": 30522, "seq_len": 384}},
    "fast": {"spec": {}},  # the tiny BERT: hundreds of samples a second
}
Clock = Callable[..., Any]


def _ir(name: str) -> Path:
    from pytest_cpuperf.models import BertSpec, build_ir

    return build_ir(BertSpec(**MODELS[name]["spec"]), progress=say)


def interleaved(model: Any, reference: Any, seconds: float, clock: Clock) -> float:
    """The model's throughput over ``seconds`` of turns interleaved with the reference's,
    each turn timed by ``clock`` (the engine's defaults for turn, reference and settle)."""
    from pytest_cpuperf.defaults import DEFAULT_SETTLE_S, DEFAULT_TRIAL_TIME_S
    from pytest_cpuperf.measure.engine import REFERENCE_TRIAL_FRACTION, least_turn_s, warm_up
    from pytest_cpuperf.measure.settings import EngineSettings

    targets = [model.timing_target(model.example_inputs()),
               reference.timing_target(reference.example_inputs())]
    warm = [warm_up(target, EngineSettings()) for target in targets]
    # as the engine turns: never shorter than a few rounds of the model's requests
    turns = [max(length, least_turn_s(target, w)) for length, target, w in zip(
        (DEFAULT_TRIAL_TIME_S, DEFAULT_TRIAL_TIME_S * REFERENCE_TRIAL_FRACTION), targets, warm,
        strict=True)]
    samples = duration = 0.0
    for round_no in range(max(2, round(seconds / turns[0]))):
        for index in ((0, 1) if round_no % 2 == 0 else (1, 0)):
            time.sleep(DEFAULT_SETTLE_S)
            trial = clock(targets[index], turns[index], None)
            if index == 0:
                samples += trial.iterations * trial.batch_size
                duration += trial.duration_s
    return samples / duration


def log_ci(ratios: list[float]) -> dict[str, float]:
    """Geometric mean of ``ratios`` and its 95% t interval over the pairs."""
    from scipy import stats

    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    half = (stats.t.ppf(0.975, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
            if len(logs) > 1 else math.inf)
    return {"ratio": round(math.exp(mean), 4), "low": round(math.exp(mean - half), 4),
            "high": round(math.exp(mean + half), 4)}


LONG = "benchmark_app_long"


def run(models: list[str], pairs: int, seconds: int,
        long_seconds: int | None = None) -> dict[str, Any]:
    from pytest_cpuperf.measure.engine import async_trial, drained_trial
    from pytest_cpuperf.measure.reference import reference_for

    clocks: dict[str, Clock] = {"whole_turn": async_trial, "window": drained_trial}
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name in models:
            ir = _ir(name)
            compiled = _compile(ir, None)
            reference = reference_for(compiled).model
            rows = []
            sides = ["benchmark_app", *clocks, *([LONG] if long_seconds else [])]
            for pair in range(pairs):
                order = sides[pair % len(sides):] + sides[:pair % len(sides)]
                row: dict[str, float] = {}
                for what in order:
                    if what == "benchmark_app":
                        row[what] = benchmark_app(ir, seconds, None, Path(workdir))[0]
                    elif what == LONG:
                        row[what] = benchmark_app(ir, long_seconds or seconds, None,
                                                  Path(workdir))[0]
                    else:
                        row[what] = interleaved(compiled, reference, seconds, clocks[what])
                say(f"{name} pair {pair + 1}/{pairs}: " + ", ".join(
                    f"{k} {v:.2f}/s" for k, v in row.items()))
                rows.append(row)
            out[name] = {"benchmark_app_fps": round(statistics.median(
                r["benchmark_app"] for r in rows), 2), "pairs": rows}
            for clock in clocks:
                out[name][clock] = log_ci([r[clock] / r["benchmark_app"] for r in rows])
            if long_seconds:
                for clock in ("benchmark_app", *clocks):
                    out[name][f"{clock}_vs_long"] = log_ci([r[clock] / r[LONG] for r in rows])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=6,
                        help="benchmark_app's -t and the plugin's measuring time per pair")
    parser.add_argument("--long-seconds", type=int, metavar="L",
                        help="also run benchmark_app -t L in every pair")
    parser.add_argument("--name", default="fidelity-rates")
    args = parser.parse_args(argv)
    result = run(args.models, args.pairs, args.seconds, args.long_seconds)
    summary = {name: {k: v for k, v in r.items() if k != "pairs"} for name, r in result.items()}
    text = json.dumps(summary, indent=2)
    save_series(args.name, summary, [{"model": name, **row} for name, r in result.items()
                                     for row in r["pairs"]], text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
