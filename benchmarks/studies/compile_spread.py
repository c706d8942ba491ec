"""Do two compiles of one IR run at the same speed? Interleaved in one process.

``python -m benchmarks.studies.compile_spread [--compiles 4] [--trials 20]
[--model bert-base|tiny]``

The fidelity check (``trust``) compiles the plugin's model once and measures it in
every pair, while ``benchmark_app`` compiles afresh for each of its runs. If compiles of one IR
differed in speed (where their weights and buffers land in memory, for example), one compile's
luck would bias the whole series on the plugin's side and nothing in the per-pair interval would
show it. This compiles the same IR (``ov_compile``'s defaults) ``--compiles`` times in one
process and times them in interleaved rounds (``engine.measure_many``: trial i of every compile
before trial i+1, the order alternating), so the machine's moment is shared; per compile, the
geometric mean ratio to the first compile over the rounds, with its 95% t-interval. Prints and
writes ``benchmarks/results/compile-spread.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from typing import Any

from ..common import FULL, QUICK, save_series, say
from ..fidelity import log_ratio_ci


def run(model: str, compiles: int, trials: int) -> dict[str, Any]:
    from pytest_cpuperf.backends.openvino import check_options, compile_model
    from pytest_cpuperf.measure.engine import EngineSettings, measure_many

    profile = FULL if model == "bert-base" else QUICK
    ir = profile.reference.ir(progress=say)
    models = [compile_model(ir, check_options(label=f"compile {i + 1}"))
              for i in range(compiles)]
    say(f"{compiles} compiles of {ir.name}; {trials} interleaved rounds of 1 s trials")
    measured = measure_many(models, [None] * compiles, EngineSettings(trials=trials),
                            progress=say)
    first = measured[0].throughputs
    per_compile = []
    for index, m in enumerate(measured):
        ratios = [a / b for a, b in zip(m.throughputs, first, strict=True)]
        per_compile.append({
            "compile": index + 1, "median_fps": round(statistics.median(m.throughputs), 2),
            "ratio_to_first": log_ratio_ci(ratios) if index else {},
            "round_log_ratio_sd": round(statistics.stdev(math.log(r) for r in ratios), 4)
            if index else None})
    return {"model": model, "compiles": compiles, "trials": trials, "ir": ir.name,
            "per_compile": per_compile}


def markdown(result: dict[str, Any], command: str) -> str:
    lines = [f"# Compile spread, {result['model']}: {result['compiles']} compiles of one IR, "
             f"{result['trials']} interleaved rounds", "", f"`{command}`", "",
             "| compile | median FPS | / compile 1 (95% CI) | sd of a round's log ratio |",
             "|---|--:|---|--:|"]
    for row in result["per_compile"]:
        ci = row["ratio_to_first"]
        cell = f"x{ci['mean']} (x{ci['low']}-x{ci['high']})" if ci else "-"
        sd = "-" if row["round_log_ratio_sd"] is None else f"{row['round_log_ratio_sd']:.1%}"
        lines.append(f"| {row['compile']} | {row['median_fps']} | {cell} | {sd} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.studies.compile_spread",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--compiles", type=int, default=4)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--model", choices=("bert-base", "tiny"), default="bert-base")
    args = parser.parse_args(argv)
    if args.compiles < 2 or args.trials < 2:
        parser.error("--compiles and --trials must be at least 2")
    command = "python -m benchmarks.studies.compile_spread " + " ".join(argv or sys.argv[1:])
    result = run(args.model, args.compiles, args.trials) | {"command": command}
    text = markdown(result, command)
    save_series("compile-spread", result, [], text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
