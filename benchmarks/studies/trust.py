"""Fidelity to benchmark_app with enough pairs to see a 1-2% bias (issue #12, item 4).

``python -m benchmarks.studies.trust [--pairs 10] [--seconds 6] [--model bert-base|tiny]
[--one-compile] [--in-process]``;
``python -m benchmarks.studies.trust --pool A.json B.json`` pools stored series

The same bert-base INT8 IR and ``ov_compile`` defaults (2 streams x 2 threads here), measured
by ``benchmark_app -t S`` (or, ``--in-process``, by benchmark_app's own timing code on the
plugin's compile of the pair) and by ``engine.measure`` (pipelined trials, ``S`` trials of 1 s) in
interleaved pairs whose order alternates, each side with a compile of its own (benchmark_app
compiles for every run; the plugin's model is compiled anew for every pair, unless
``--one-compile``); per pair the ratio plugin / benchmark_app, overall
the geometric mean and the 95% CI of the mean log ratio (target: inside 1.00 +- 1.5%).
Writes ``benchmarks/results/trust-fidelity.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from .. import fidelity
from ..common import FULL, QUICK, say

OUT = Path(__file__).resolve().parents[1] / "results" / "trust-fidelity.json"


def pooled(paths: list[Path]) -> str:
    """The stored series' pairs pooled: per file, overall and per order of the two sides, the
    geometric mean ratio with the 95% CI of the mean log ratio (what ``--pool`` prints)."""
    lines, ratios = [], []
    by_order: dict[str, list[float]] = {}
    for path in paths:
        pairs = json.loads(path.read_text())["dense"]["pairs"]
        ratios += [pair["ratio"] for pair in pairs]
        for pair in pairs:
            by_order.setdefault(pair["order"], []).append(pair["ratio"])
        ci = fidelity.log_ratio_ci([pair["ratio"] for pair in pairs])
        figure = ("samples over time" if "median_trial_ratio" in pairs[0] else
                  "the median trial")
        lines.append(f"{path.name}: x{ci['mean']} (95% CI x{ci['low']}-x{ci['high']}, "
                     f"{ci['pairs']} pairs; the plugin's figure: {figure})")
    ci = fidelity.log_ratio_ci(ratios)
    lines.append(f"pooled: x{ci['mean']} (95% CI x{ci['low']}-x{ci['high']}, {ci['pairs']} "
                 f"pairs; sd of a pair's log ratio {fidelity.log_sd(ratios):.1%}); within "
                 f"+-1.5%: {ci['within_1_5pct']}")
    for order, some in sorted(by_order.items()):
        ci = fidelity.log_ratio_ci(some)
        lines.append(f"  {order.replace(', ', ' first, then ')}: x{ci['mean']} (95% CI "
                     f"x{ci['low']}-x{ci['high']}, {ci['pairs']} pairs)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.trust", description=__doc__)
    parser.add_argument("--pool", nargs="+", type=Path, metavar="JSON",
                        help="measure nothing: pool the pairs of stored series (their JSON) "
                             "and print the CI")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--model", choices=("bert-base", "tiny"), default="bert-base")
    parser.add_argument("--one-compile", action="store_true",
                        help="compile the plugin's model once for all pairs (the design before "
                             "2026-11-22; by default it is compiled anew for every pair, as "
                             "benchmark_app compiles for every run)")
    parser.add_argument("--in-process", action="store_true",
                        help="run benchmark_app's own timing code in this process on the "
                             "plugin's compile of each pair instead of the benchmark_app "
                             "command: compile luck cancels within a pair, and the compiles' "
                             "configurations are compared once with the real benchmark_app's")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.pool:
        print(pooled(args.pool))
        return 0
    base = FULL if args.model == "bert-base" else QUICK
    profile = dataclasses.replace(base, fidelity_reps=args.pairs,
                                  bench_app_time_s=args.seconds)
    ir = profile.reference.ir(progress=say)
    load_start = os.getloadavg()
    result = fidelity.run(profile, ir, configs=("dense",), fresh_compile=not args.one_compile,
                          in_process=args.in_process)
    result["load"] = {"start": load_start, "end": os.getloadavg()}
    result["command"] = "python -m benchmarks.studies.trust " + " ".join(argv or sys.argv[1:])
    args.out.write_text(json.dumps(result, indent=1))
    dense = result["dense"]
    ci = dense["mean_log_ratio_ci95"]
    lines = [f"# Fidelity, {args.model}, dense, {args.pairs} pairs of {args.seconds} s"
             + (", one compile of the plugin's model for all pairs" if args.one_compile
                else ", the plugin's model compiled anew for every pair")
             + (", benchmark_app's timing code in process on the pair's compile"
                if args.in_process else ""), "",
             f"`{result['command']}`; loadavg {load_start} -> {result['load']['end']}", "",
             "| pair | order | benchmark_app FPS | plugin FPS | ratio |", "|---|---|---|---|---|"]
    for i, pair in enumerate(dense["pairs"], 1):
        lines.append(f"| {i} | {pair['order']} | {pair['benchmark_app_fps']} | "
                     f"{pair['plugin_fps']} | {pair['ratio']} |")
    lines += ["", f"geometric mean ratio x{ci['mean']} (95% CI x{ci['low']}-x{ci['high']}, "
                  f"over {ci['pairs']} pairs; sd of a pair's log ratio "
                  f"{dense['pair_log_ratio_sd']:.1%}); within +-1.5%: {ci['within_1_5pct']}"]
    median_trial = dense.get("median_trial_ci95")
    if median_trial:
        lines += ["", f"the same pairs with the plugin's median trial (its figure before "
                      f"2026-11-22) in place of samples over time: x{median_trial['mean']} "
                      f"(95% CI x{median_trial['low']}-x{median_trial['high']})"]
    block = dense["abba_block_ci95"]
    if block:
        lines += ["", f"over {block['pairs']} A-B-B-A blocks (two pairs in opposite orders; a "
                      f"linear drift of the machine cancels): x{block['mean']} (95% CI "
                      f"x{block['low']}-x{block['high']}); within +-1.5%: "
                      f"{block['within_1_5pct']}"]
    config = dense.get("config_vs_benchmark_app")
    if config is not None:
        lines += ["", "compiled-model properties, benchmark_app's compile against the plugin's: "
                  + (f"differ in {', '.join(config['differ'])}" if config["differ"] else
                     f"alike in all {len(config['values'])} compared")]
    text = "\n".join(lines) + "\n"
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
