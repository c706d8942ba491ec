"""Turn length of an in-process A/B (``cpuperf.compare``, the same-moment gate): A/A runs of
two compiles of one IR at several turn lengths, each run judged by the plugin's verdict.

For each configuration (pairs x turn length, settle pause) it prints what a verdict's error
really is (the sd of the runs' log ratios, and how far their 95% intervals miss 1.0) beside
what each run's interval claims (its median half-width), the false regressions at 5% and 2%
tolerance, and the median wall time of a run. Configurations take turns run by run, so a slow
spell of the machine hits all of them.

    python -m benchmarks.turns --runs 12
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from dataclasses import replace
from typing import Any

from .common import say
from .same_moment import gate_record

CONFIGS: dict[str, dict[str, float]] = {
    "5x1s_settle0.3": {"trials": 5, "trial_time_s": 1.0, "settle_s": 0.3},
    "20x0.25s": {"trials": 20, "trial_time_s": 0.25, "settle_s": 0.0},
    "40x0.25s": {"trials": 40, "trial_time_s": 0.25, "settle_s": 0.0},
}


def _verdict(a: list[float], b: list[float], tolerance: float) -> str:
    from pytest_cpuperf.judge.evaluate import Policy, evaluate
    from pytest_cpuperf.records.results import BaselineRecord

    stored = BaselineRecord.from_record(gate_record(b))
    return evaluate(gate_record(a, b), stored, replace(Policy(), tolerance=tolerance)).status.value


def run(runs: int) -> dict[str, Any]:
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.measure.engine import EngineSettings, compare
    from pytest_cpuperf.models import BertSpec, build_ir

    ir = build_ir(BertSpec.tiny(), progress=say)
    a, b = (compile_model(ir, check_options()) for _ in range(2))
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    for run_no in range(runs):
        names = list(CONFIGS)[run_no % len(CONFIGS):] + list(CONFIGS)[:run_no % len(CONFIGS)]
        for name in names:
            settings = replace(EngineSettings(), **CONFIGS[name])
            began = time.perf_counter()
            result = compare(a, b, settings=settings)
            wall = time.perf_counter() - began
            ta, tb = list(result.a.throughputs), list(result.b.throughputs)
            rows[name].append({"ratio": result.ratio.ratio, "low": result.ratio.low,
                               "high": result.ratio.high, "wall_s": wall,
                               "v5": _verdict(ta, tb, 0.05), "v2": _verdict(ta, tb, 0.02)})
            say(f"run {run_no + 1}/{runs} {name}: {result.ratio.describe()} ({wall:.1f} s)")
    return {name: summary(r) for name, r in rows.items()}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    logs = [math.log(r["ratio"]) for r in rows]
    halves = [(math.log(r["high"]) - math.log(r["low"])) / 2 for r in rows]
    return {"runs": len(rows),
            "sd_of_run_log_ratios": round(statistics.stdev(logs), 4),
            "median_claimed_half_width": round(statistics.median(halves), 4),
            "ci_misses_1": sum(not (r["low"] <= 1.0 <= r["high"]) for r in rows),
            "false_regressions_tol5": sum(r["v5"] == "regression" for r in rows),
            "false_regressions_tol2": sum(r["v2"] == "regression" for r in rows),
            "verdicts_tol5": {v: sum(r["v5"] == v for r in rows) for v in
                              sorted({r["v5"] for r in rows})},
            "median_wall_s": round(statistics.median(r["wall_s"] for r in rows), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12, help="A/A runs per configuration")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.runs), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
