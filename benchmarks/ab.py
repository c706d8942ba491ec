"""``cpuperf ab`` end to end: A/A false alarms and CI coverage, detection of slower models.

Each repetition is one real ``cpuperf ab`` run (two worker processes of this environment) over
one side directory holding one test per variant:

- ``test_aa_fast``: the tiny BERT (2 layers x 128, INT8, thousands of samples/s) on both sides;
- ``test_aa``: a deep narrow BERT (100 layers x 128, INT8) on both sides;
- ``test_slower[pct]``: base runs the 100-layer model, head the same model with ``pct`` more
  layers. Every layer has the same shapes and kernels, but the runtime is not linear in them
  here (measured: 105 layers ran x1.046 *faster* than 100, 108 x0.925), so read detection
  against the measured slowdown (the pooled head/base), not the nominal one.

Every verdict is the one ``cpuperf ab`` printed. Results go to ``benchmarks/results/<name>.json``
and ``<name>.md``, with the machine's load while they ran. ``--select`` passes a ``-k``
expression to both sides (an A/A series and a detection series can run separately);
``--hog N`` runs every repetition under the noisy neighbour of ``benchmarks.noisy`` (a busy loop
pinned to each of N cores, started half a second in).

    python -m benchmarks.ab --repeats 20 --select "aa or slower and 3" --name ab-quiet

``--python`` runs the ``cpuperf ab`` another interpreter has installed, so an earlier design and
this one are measured side by side in one session with the same harness.
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

from pytest_cpuperf.defaults import DEFAULT_SETTLE_S

from .common import load, save_series, say
from .noisy import hogs

ROOT = Path(__file__).resolve().parents[1]
FAST_LAYERS = 2
BASE_LAYERS = 100
SLOWER = {pct: BASE_LAYERS + pct for pct in (2, 3, 5, 8)}
"""Nominal slowdown (%) -> layers of the head's model (base: ``BASE_LAYERS``)."""

SIDE_CONFTEST = '''
import os
from pathlib import Path

import pytest

from pytest_cpuperf.models import BertSpec, build_ir

SLOWER = {slower!r}
BASE_LAYERS = {base}
FAST_LAYERS = {fast}


@pytest.fixture(scope="session")
def head_side():
    return Path(os.getcwd()).name == "head"


def model(layers):
    return build_ir(BertSpec.tiny(layers=layers), sparsity=0.0)
'''
SIDE_TEST = '''
import pytest

from conftest import BASE_LAYERS, FAST_LAYERS, SLOWER, model


@pytest.mark.cpuperf
def test_aa_fast(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(model(FAST_LAYERS)))


@pytest.mark.cpuperf
def test_aa(ov_compile, cpuperf):
    cpuperf.measure(ov_compile(model(BASE_LAYERS)))


@pytest.mark.cpuperf
@pytest.mark.parametrize("pct", sorted(SLOWER))
def test_slower(ov_compile, cpuperf, head_side, pct):
    cpuperf.measure(ov_compile(model(SLOWER[pct] if head_side else BASE_LAYERS)))
'''


def make_sides(directory: Path) -> tuple[Path, Path]:
    """Two identical side directories (``base``, ``head``): the tests pick the model by side."""
    sides = []
    for name in ("base", "head"):
        side = directory / name
        side.mkdir(parents=True)
        (side / "conftest.py").write_text(
            SIDE_CONFTEST.format(slower=SLOWER, base=BASE_LAYERS, fast=FAST_LAYERS))
        (side / "test_ab_bench.py").write_text(SIDE_TEST)
        sides.append(side)
    return sides[0], sides[1]


def layers_used(side: Path, select: str | None) -> list[int]:
    """The layer counts of the models the tests ``select`` picks (``-k``) use, on either side:
    pytest collects them, so ``-k`` means here what it means to ``cpuperf ab``."""
    if not select:
        return [FAST_LAYERS, BASE_LAYERS, *SLOWER.values()]
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-k", select, str(side)],
                          cwd=side, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True)
    names = [line.rpartition("::")[2] for line in done.stdout.splitlines() if "::" in line]
    if not names:
        raise SystemExit(f"--select {select!r} picks no test (pytest -k): "
                         f"{done.stdout[-500:]}{done.stderr[-500:]}")
    layers: set[int] = set()
    for name in names:
        if name == "test_aa_fast":
            layers.add(FAST_LAYERS)
        elif name == "test_aa":
            layers.add(BASE_LAYERS)
        elif name.startswith("test_slower["):
            layers.update((BASE_LAYERS, SLOWER[int(name[len("test_slower["):-1])]))
    return sorted(layers)


def build_models(layer_counts: list[int]) -> None:
    from pytest_cpuperf.models import BertSpec, build_ir

    for layers in layer_counts:
        say(f"model: {layers} layers")
        build_ir(BertSpec.tiny(layers=layers), sparsity=0.0)


def one_run(base: Path, head: Path, args: argparse.Namespace, report: Path) -> dict[str, Any]:
    command = [args.python or sys.executable, "-m", "pytest_cpuperf.cli", "ab", "--base",
               str(base), "--head", str(head), "--rounds", str(args.rounds), "--settle",
               str(args.settle), "--max-pairs", str(args.max_pairs), "--report", str(report)]
    if args.pairs is not None:
        command += ["--pairs", str(args.pairs)]
    if args.mode is not None:
        command += ["--mode", args.mode]
    command += ["--", "--cpuperf-trial-time", str(args.trial_time)]
    if args.select:
        command += ["-k", args.select]
    # another interpreter runs the cpuperf it has installed (another revision's design)
    env = dict(os.environ) if args.python else dict(os.environ, PYTHONPATH=str(ROOT))
    load_before = load()
    begin = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - begin
    if done.returncode not in (0, 1):
        raise RuntimeError(f"cpuperf ab failed ({done.returncode}):\n{done.stderr[-3000:]}")
    data = json.loads(report.read_text())
    firsts = data["machine"]["ab"].get("first_sides") or {}
    verdicts = {}
    for result in data["results"]:
        if result["metric"] != "throughput":
            continue
        name = result["test_id"].split("::")[-1]
        ratio = 1.0 + result["change"]
        low, high = (1.0 + c for c in result["ci"])
        samples = _samples(result)
        verdicts[name] = {"status": result["status"], "ratio": ratio, "low": low, "high": high,
                          "p": result["p_value"], "left_out": "left out" in result["message"],
                          "pairs": len(_worker_pairs(result)),
                          "samples": samples,
                          "pair_ratios": _pair_ratios(samples, firsts.get(result["test_id"]))}
    return {"seconds": round(seconds, 1), "load_before": load_before, "load_after": load(),
            "tests": verdicts, "exit": done.returncode}


def _worker_pairs(result: dict[str, Any]) -> list[int]:
    """Rounds each pair of worker processes contributed (one pair: all of them)."""
    head = result.get("current") or {}
    return list((head.get("extra") or {}).get("worker_pairs") or [len(head.get("samples", []))])


def _samples(result: dict[str, Any]) -> dict[str, Any]:
    """Per-round throughput and contention factors of both sides in the first pair of worker
    processes, and of each further pair under ``later_pairs`` (for offline replays)."""
    head = result.get("current") or {}
    runs = (result.get("baseline") or {}).get("runs") or [{}]
    series = {"base": runs[0].get("samples", []), "base_contention": runs[0].get("contention", []),
              "head": head.get("samples", []), "head_contention": head.get("contention", [])}
    pairs, start = [], 0
    for count in _worker_pairs(result):
        pairs.append({key: values[start:start + count] for key, values in series.items()})
        start += count
    return {**pairs[0], "later_pairs": pairs[1:]}


def _pair_ratios(samples: dict[str, Any], firsts: list[str] | None) -> list[list[Any]]:
    """[side that went first, head/base] of each pair of workers (the geometric mean of its
    rounds' ratios); the first side is "base" where the report does not say."""
    pairs = [samples, *samples["later_pairs"]]
    firsts = firsts or ["base"] * len(pairs)
    return [[first, round(math.exp(statistics.fmean(
        math.log(h / b) for b, h in zip(pair["base"], pair["head"], strict=False))), 4)]
            for first, pair in zip(firsts, pairs, strict=False) if pair["base"]]


def _order_ratio(seen: list[dict[str, Any]], first: str) -> float | None:
    """The geometric mean head/base of every pair of workers in which ``first`` went first."""
    logs = [math.log(r) for v in seen for f, r in v.get("pair_ratios", []) if f == first]
    return round(math.exp(statistics.fmean(logs)), 4) if logs else None


def summarize(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    names = sorted({name for run in runs for name in run["tests"]})
    table = {}
    for name in names:
        seen = [run["tests"][name] for run in runs if name in run["tests"]]
        ratios = [v["ratio"] for v in seen]
        halves = [(math.log(v["high"]) - math.log(v["low"])) / 2 for v in seen]
        table[name] = {
            "runs": len(seen),
            "regression": sum(v["status"] == "regression" for v in seen),
            "inconclusive": sum(v["status"] == "inconclusive" for v in seen),
            "ci_covers_1": sum(v["low"] <= 1.0 <= v["high"] for v in seen),
            "pooled_ratio": round(math.exp(statistics.fmean(map(math.log, ratios))), 4),
            "ratio_range": [round(min(ratios), 4), round(max(ratios), 4)],
            "half_width_median": round(statistics.median(halves), 4),
            "log_ratio_sd": round(statistics.stdev(map(math.log, ratios)), 4)
            if len(ratios) > 1 else None,
            "base_first": _order_ratio(seen, "base"),
            "head_first": _order_ratio(seen, "head"),
        }
    tests_per_run = max(1, len(names))
    seconds = [run["seconds"] for run in runs]
    return {"rounds": args.rounds, "trial_time_s": args.trial_time, "settle_s": args.settle,
            "python": args.python, "pairs": args.pairs, "max_pairs": args.max_pairs,
            "mode": args.mode, "repeats": len(runs),
            "select": args.select, "hog": args.hog, "base_layers": BASE_LAYERS,
            "slower_layers": SLOWER,
            "seconds_per_run": round(statistics.median(seconds), 1),
            "seconds_per_test": round(statistics.median(seconds) / tests_per_run, 1),
            "load": [run["load_before"][0] for run in runs], "tests": table}


def _shown(ratio: float | None) -> str:
    return "-" if ratio is None else f"x{ratio:.4f}"


def markdown(summary: dict[str, Any]) -> str:
    lines = [f"`cpuperf ab`: {summary['repeats']} runs ({summary.get('select') or 'all tests'}),"
             f" {summary['rounds']} rounds of {summary['trial_time_s']} s trials, settle "
             f"{summary.get('settle_s')} s, mode {summary.get('mode') or 'default'}, pairs "
             f"{summary.get('pairs') or 'default'} (at most "
             f"{summary.get('max_pairs')}); {summary.get('hog') or 'no'} core(s) hogged; median "
             f"{summary['seconds_per_run']} s per run "
             f"({summary['seconds_per_test']} s per test); 1-min load before each run: "
             f"{', '.join(f'{x:.1f}' for x in summary['load'])}", "",
             "| test | runs | regression | inconclusive | 95% CI covers 1.0 | pooled head/base "
             "| range | sd of the ratio over runs | median CI half-width | pairs base first "
             "| pairs head first |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for name, row in summary["tests"].items():
        sd = row.get("log_ratio_sd")
        lines.append(f"| {name} | {row['runs']} | {row['regression']} | {row['inconclusive']} "
                     f"| {row['ci_covers_1']} | x{row['pooled_ratio']:.4f} | "
                     f"x{row['ratio_range'][0]:.3f}-x{row['ratio_range'][1]:.3f} | "
                     f"{'-' if sd is None else f'{sd:.2%}'} | "
                     f"{row['half_width_median']:.2%} | {_shown(row.get('base_first'))} | "
                     f"{_shown(row.get('head_first'))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--trial-time", type=float, default=1.0)
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE_S)
    parser.add_argument("--pairs", type=int, help="cpuperf ab --pairs (default: its own)")
    parser.add_argument("--mode", choices=("turns", "duet"),
                        help="cpuperf ab --mode (default: its own)")
    parser.add_argument("--max-pairs", type=int, default=4,
                        help="cpuperf ab --max-pairs (1: every verdict on one pair of workers)")
    parser.add_argument("--python", metavar="PY", help="run the cpuperf ab this interpreter "
                        "has installed (e.g. a venv of an earlier revision), not this checkout's")
    parser.add_argument("--name", default="ab")
    parser.add_argument("--hog", type=int, default=0, choices=(0, 1, 2),
                        help="cores to keep busy with a pure-Python loop during every run")
    parser.add_argument("--select", metavar="EXPR", help="pytest -k expression of the tests "
                        "to run (default: all: test_aa_fast, test_aa, test_slower[2|3|5|8])")
    parser.add_argument("--join", nargs="+", metavar="NAME", help="measure nothing: join the "
                        "runs of these saved series (benchmarks/results/NAME.json, one design "
                        "measured in parts) into the series --name")
    args = parser.parse_args(argv)
    if args.join:
        return join(args)
    runs = []
    with tempfile.TemporaryDirectory(prefix="cpuperf-ab-bench-") as tmp:
        base, head = make_sides(Path(tmp))
        say("building the models the selected tests use (cached)")
        build_models(layers_used(head, args.select))
        for number in range(args.repeats):
            with hogs(args.hog):
                runs.append(one_run(base, head, args, Path(tmp) / f"run{number}.json"))
            say(f"run {number + 1}/{args.repeats}: {runs[-1]['seconds']} s, " + ", ".join(
                f"{k} {v['status']} x{v['ratio']:.3f}" for k, v in runs[-1]["tests"].items()))
            write(runs, args)
    print(markdown(summarize(runs, args)))
    return 0


def join(args: argparse.Namespace) -> int:
    """Summarize the runs of several saved series as one (their settings must agree)."""
    results = Path(__file__).resolve().parent / "results"
    saved = [json.loads((results / f"{name}.json").read_text()) for name in args.join]
    keys = ("rounds", "trial_time_s", "settle_s", "python", "pairs", "max_pairs", "select",
            "hog", "mode")
    first = {key: saved[0]["summary"].get(key) for key in keys}
    for name, data in zip(args.join, saved, strict=True):
        other = {key: data["summary"].get(key) for key in keys}
        if other != first:
            raise SystemExit(f"--join: {name} was measured with {other}, not {first}")
    args.rounds, args.trial_time, args.settle = (first["rounds"], first["trial_time_s"],
                                                 first["settle_s"])
    args.python, args.pairs, args.max_pairs = first["python"], first["pairs"], first["max_pairs"]
    args.select, args.hog, args.mode = first["select"], first["hog"], first["mode"]
    runs = [run for data in saved for run in data["runs"]]
    write(runs, args)
    print(markdown(summarize(runs, args)))
    return 0


def write(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The results so far, after every run."""
    summary = summarize(runs, args)
    save_series(args.name, summary, runs, markdown(summary))


if __name__ == "__main__":
    raise SystemExit(main())
