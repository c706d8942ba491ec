"""Does the model compiled first read slower, within one process? Two compiles of one IR.

``cpuperf ab`` found that the worker told to run a test first (it compiles first) reads slower
on a deep model (docs/evidence/ab-calibration.md). The same-moment gate compiles two models in
one process too: the candidate (the test's own compile) first, the baseline's artifact second.
Each run here is a fresh process that compiles one IR twice and measures the two compiles
interleaved as the gate does (:func:`pytest_cpuperf.measure.turns.in_turns`, ``--trials``
turns per side); it prints the ratio second/first. With no order effect the runs scatter
around 1.0; one that favours either side reads above or below it in most runs.

    python -m benchmarks.compile_order --runs 8 --layers 100
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
from dataclasses import replace
from typing import Any

from .common import load, save_series, say


def one_process(layers: int, trials: int) -> dict[str, Any]:
    """In this process: compile the IR twice, measure them interleaved; second/first."""
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.measure.engine import EngineSettings, compare
    from pytest_cpuperf.measure.turns import in_turns
    from pytest_cpuperf.models import BertSpec, build_ir

    ir = build_ir(BertSpec.tiny(layers=layers), sparsity=0.0)
    first = compile_model(ir, check_options())
    second = compile_model(ir, check_options())
    settings = replace(in_turns(EngineSettings(), ("openvino", "openvino")), trials=trials)
    result = compare(second, first, settings=settings)
    return {"ratio": result.ratio.ratio, "low": result.ratio.low, "high": result.ratio.high}


def summary(rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    logs = [math.log(r["ratio"]) for r in rows]
    return {"layers": args.layers, "trials": args.trials, "runs": len(rows),
            "above_1": sum(r["ratio"] > 1.0 for r in rows),
            "geomean": round(math.exp(statistics.fmean(logs)), 4),
            "sd": round(statistics.stdev(logs), 4) if len(logs) > 1 else None,
            "load": [r["load"] for r in rows]}


def markdown(result: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    each = ", ".join(f"x{r['ratio']:.3f}" for r in rows)
    sd = "-" if result["sd"] is None else f"{result['sd']:.2%}"
    return (f"Two compiles of a {result['layers']}-layer model in one process, {result['trials']}"
            f" turns a side: second/first over {result['runs']} processes: geomean "
            f"x{result['geomean']:.4f}, {result['above_1']} above 1.0, sd {sd}; each: {each}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="fresh processes")
    parser.add_argument("--layers", type=int, default=100, help="encoder layers (x 128, INT8)")
    parser.add_argument("--trials", type=int, default=40, help="turns per side and process")
    parser.add_argument("--name", default="compile-order")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(one_process(args.layers, args.trials)))
        return 0
    rows: list[dict[str, Any]] = []
    for number in range(args.runs):
        before = load()[0]
        done = subprocess.run([sys.executable, "-m", "benchmarks.compile_order", "--child",
                               "--layers", str(args.layers), "--trials", str(args.trials)],
                              capture_output=True, text=True, check=True)
        rows.append({**json.loads(done.stdout.strip().splitlines()[-1]), "load": before})
        say(f"run {number + 1}/{args.runs}: second/first x{rows[-1]['ratio']:.3f} "
            f"(x{rows[-1]['low']:.3f}-x{rows[-1]['high']:.3f})")
        result = summary(rows, args)
        save_series(args.name, result, rows, markdown(result, rows))
    print(markdown(summary(rows, args), rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
