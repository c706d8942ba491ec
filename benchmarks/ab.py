"""``cpuperf ab`` end to end: A/A false alarms and CI coverage, detection of slower models.

Each repetition is one real ``cpuperf ab`` run (two worker processes of this environment) over
one side directory holding one test per variant: ``aa`` (the same model on both sides) and
``slower_<pct>`` (head runs the tiny BERT at a longer sequence, nominally ``pct``% more work).
Every verdict is the one ``cpuperf ab`` printed; the measured slowdown of each variant is the
pooled head/base ratio over all repetitions. Results go to ``benchmarks/results/ab.json`` and
``ab.md``, with the machine's load while they ran.

    python -m benchmarks.ab --repeats 8 --rounds 12 --trial-time 0.5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import load, say

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BASE_SEQ = 64
SLOWER = {2: 65, 3: 66, 5: 67, 8: 69}
"""Nominal slowdown (%) -> sequence length of the head's model (work ~ linear in tokens)."""

SIDE_CONFTEST = '''
import os
from pathlib import Path

import pytest

from pytest_cpuperf.models import BertSpec, build_ir

SLOWER = {slower!r}


@pytest.fixture(scope="session")
def head_side():
    return Path(os.getcwd()).name == "head"


def model(seq_len):
    return build_ir(BertSpec.tiny(seq_len=seq_len), sparsity=0.0)
'''
SIDE_TEST = '''
import pytest

from conftest import SLOWER, model


@pytest.mark.cpuperf
def test_aa(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(model({base})))


@pytest.mark.cpuperf
@pytest.mark.parametrize("pct", sorted(SLOWER))
def test_slower(ov_compile, cpuperf, head_side, pct):
    cpuperf.measure(ov_compile(model(SLOWER[pct] if head_side else {base})))
'''


def make_sides(directory: Path) -> tuple[Path, Path]:
    """Two identical side directories (``base``, ``head``): the tests pick the model by side."""
    sides = []
    for name in ("base", "head"):
        side = directory / name
        side.mkdir(parents=True)
        (side / "conftest.py").write_text(SIDE_CONFTEST.format(slower=SLOWER))
        (side / "test_ab_bench.py").write_text(SIDE_TEST.format(base=BASE_SEQ))
        sides.append(side)
    return sides[0], sides[1]


def build_models() -> None:
    from pytest_cpuperf.models import BertSpec, build_ir

    for seq in (BASE_SEQ, *SLOWER.values()):
        build_ir(BertSpec.tiny(seq_len=seq), sparsity=0.0)


def one_run(base: Path, head: Path, args: argparse.Namespace, report: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest_cpuperf.cli", "ab", "--base", str(base), "--head",
               str(head), "--rounds", str(args.rounds), "--report", str(report), "--",
               "--cpuperf-trial-time", str(args.trial_time)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    load_before = load()
    begin = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - begin
    if done.returncode not in (0, 1):
        raise RuntimeError(f"cpuperf ab failed ({done.returncode}):\n{done.stderr[-3000:]}")
    data = json.loads(report.read_text())
    verdicts = {}
    for result in data["results"]:
        if result["metric"] != "throughput":
            continue
        name = result["test_id"].split("::")[-1]
        ratio = 1.0 + result["change"]
        low, high = (1.0 + c for c in result["ci"])
        verdicts[name] = {"status": result["status"], "ratio": ratio, "low": low, "high": high,
                          "p": result["p_value"], "left_out": "left out" in result["message"]}
    return {"seconds": round(seconds, 1), "load_before": load_before, "load_after": load(),
            "tests": verdicts, "exit": done.returncode}


def summarize(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    names = sorted({name for run in runs for name in run["tests"]})
    table = {}
    for name in names:
        seen = [run["tests"][name] for run in runs if name in run["tests"]]
        ratios = [v["ratio"] for v in seen]
        table[name] = {
            "runs": len(seen),
            "regression": sum(v["status"] == "regression" for v in seen),
            "inconclusive": sum(v["status"] == "inconclusive" for v in seen),
            "ci_covers_1": sum(v["low"] <= 1.0 <= v["high"] for v in seen),
            "pooled_ratio": round(math.exp(statistics.fmean(map(math.log, ratios))), 4),
            "ratio_range": [round(min(ratios), 4), round(max(ratios), 4)],
        }
    tests_per_run = max(1, len(names))
    seconds = [run["seconds"] for run in runs]
    return {"rounds": args.rounds, "trial_time_s": args.trial_time, "repeats": len(runs),
            "seconds_per_run": round(statistics.median(seconds), 1),
            "seconds_per_test": round(statistics.median(seconds) / tests_per_run, 1),
            "load": [run["load_before"][0] for run in runs], "tests": table}


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"`cpuperf ab`: {summary['repeats']} runs, {summary['rounds']} rounds of "
             f"{summary['trial_time_s']} s trials; median {summary['seconds_per_run']} s per run "
             f"({summary['seconds_per_test']} s per test); 1-min load before each run: "
             f"{', '.join(f'{x:.1f}' for x in summary['load'])}", "",
             "| test | runs | regression | inconclusive | 95% CI covers 1.0 | pooled head/base "
             "| range |", "|---|--:|--:|--:|--:|--:|--:|"]
    for name, row in summary["tests"].items():
        lines.append(f"| {name} | {row['runs']} | {row['regression']} | {row['inconclusive']} "
                     f"| {row['ci_covers_1']} | x{row['pooled_ratio']:.4f} | "
                     f"x{row['ratio_range'][0]:.3f}-x{row['ratio_range'][1]:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--trial-time", type=float, default=1.0)
    parser.add_argument("--name", default="ab")
    args = parser.parse_args(argv)
    say("building the tiny models (cached)")
    build_models()
    runs = []
    with tempfile.TemporaryDirectory(prefix="cpuperf-ab-bench-") as tmp:
        base, head = make_sides(Path(tmp))
        for number in range(args.repeats):
            runs.append(one_run(base, head, args, Path(tmp) / f"run{number}.json"))
            say(f"run {number + 1}/{args.repeats}: {runs[-1]['seconds']} s, " + ", ".join(
                f"{k} {v['status']} x{v['ratio']:.3f}" for k, v in runs[-1]["tests"].items()))
    summary = summarize(runs, args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"summary": summary, "runs": runs},
                                                          indent=1))
    (RESULTS / f"{args.name}.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
