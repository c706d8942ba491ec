"""Replay stored ``benchmarks.ab`` runs at other settings: process floor and round count.

Every run of ``python -m benchmarks.ab`` stores each test's per-round throughput of both sides.
This replays the paired verdict of ``cpuperf ab`` on them (the same spoiled-round filter,
:func:`~pytest_cpuperf.stats.intervals.pooled_ratio` and verdict rule) for every floor and for the
first N rounds, and estimates the between-process offset the floor stands for: the spread of
the A/A runs' ratios beyond what their own rounds explain. ``cpuperf ab`` measures a test whose
verdict is not a pass again by a fresh pair of worker processes, up to ``--max-pairs``, and
judges all pairs together: replayed with each stored run as one pair of workers, over ordered
sequences of distinct runs (all of them, or 3,000 drawn with a fixed seed), for each
``--max-pairs`` given, by ``cpuperf ab``'s own ``judge_pairs`` and ``needs_another_pair``.

    python -m benchmarks.ab_replay benchmarks/results/ab-aa-quiet.json \\
        benchmarks/results/ab-slower-quiet.json --floors 0,0.005,0.01 --rounds 10,20 \\
        --max-pairs 1,2,3,4
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
from pathlib import Path
from typing import Any


def _record(samples: list[float], contention: list[float]) -> Any:
    from pytest_cpuperf.records.results import MetricRecord

    return MetricRecord(test_id="replay", metric="throughput", kind="throughput",
                        unit="samples/s", value=statistics.median(samples), samples=samples,
                        contention=contention)


def pairs_of(samples: dict[str, list[float]], rounds: int) -> tuple[list[float], list[float]]:
    """(base, head): the contention-corrected samples of the first ``rounds`` clean rounds
    (``cpuperf ab``'s own :func:`~pytest_cpuperf.ab.verdict.clean_pairs`)."""
    from pytest_cpuperf.ab.verdict import clean_pairs

    base, head, _ = clean_pairs(_record(samples["base"], samples["base_contention"]),
                                _record(samples["head"], samples["head_contention"]))
    return base[:rounds], head[:rounds]


def verdict(base: list[float], head: list[float], floor: float, tolerance: float,
            alpha: float) -> tuple[str, float, float, float]:
    """(status, ratio, low, high) as ``cpuperf ab`` judges these (clean, corrected) pairs."""
    from pytest_cpuperf.ab.verdict import AbPolicy, judge_pair

    result = judge_pair(_record(base, []), _record(head, []),
                        AbPolicy(tolerance=tolerance, alpha=alpha, process_floor=floor))
    assert result.change is not None and result.ci is not None
    return (result.status.value, 1.0 + result.change, 1.0 + result.ci[0],
            1.0 + result.ci[1])


def process_offset(runs: list[tuple[list[float], list[float]]]) -> dict[str, float]:
    """Spread of the A/A runs' mean log ratios, and how much of it their rounds explain."""
    means, within = [], []
    for base, head in runs:
        diffs = [math.log(h / b) for b, h in zip(base, head, strict=True)]
        means.append(statistics.fmean(diffs))
        within.append(statistics.variance(diffs) / len(diffs))
    between = statistics.variance(means)
    explained = statistics.fmean(within)
    return {"runs": len(runs), "sd_of_run_ratios": math.sqrt(between),
            "sd_explained_by_rounds": math.sqrt(explained),
            "offset_sd": math.sqrt(max(0.0, between - explained)),
            "pair_sd_median": statistics.median(
                math.sqrt(w * len(r[0])) for w, r in zip(within, runs, strict=True))}


def replay(files: list[Path], floors: list[float], rounds: list[int], tolerance: float,
           alpha: float, max_pairs: list[int]) -> dict[str, Any]:
    tests: dict[str, list[dict[str, list[float]]]] = {}
    for file in files:
        for run in json.loads(file.read_text())["runs"]:
            for name, result in run["tests"].items():
                if result.get("samples", {}).get("base"):
                    tests.setdefault(name, []).append(result["samples"])
    out: dict[str, Any] = {"tolerance": tolerance, "alpha": alpha, "tests": {}}
    for name, stored in sorted(tests.items()):
        row: dict[str, Any] = {"runs": len(stored)}
        full = [pairs_of(s, 10 ** 6) for s in stored]
        row["offset"] = process_offset(full)
        for n in rounds:
            for floor in floors:
                seen = [verdict(*pairs_of(s, n), floor, tolerance, alpha) for s in stored]
                row[f"rounds={n} floor={floor}"] = {
                    "regression": sum(v[0] == "regression" for v in seen),
                    "improvement": sum(v[0] == "improvement" for v in seen),
                    "inconclusive": sum(v[0] == "inconclusive" for v in seen),
                    "ci_covers_1": sum(v[2] <= 1.0 <= v[3] for v in seen),
                    "median_ci_half_width": statistics.median((v[3] - v[2]) / 2 for v in seen),
                }
        row["sequential"] = {k: sequential(stored, k, tolerance, alpha) for k in max_pairs}
        out["tests"][name] = row
    return out


SEQUENCES = 3000
"""At most this many ordered sequences of distinct runs per test and ``--max-pairs``."""


def sequential(stored: list[dict[str, list[float]]], max_pairs: int, tolerance: float,
               alpha: float) -> dict[str, Any]:
    """``cpuperf ab``'s pairs of workers, replayed: each stored run stands for one pair; a
    sequence of distinct runs is measured pair after pair while ``needs_another_pair`` says so,
    up to ``max_pairs``, and judged on the pairs used by ``judge_pairs``."""
    from pytest_cpuperf.ab.verdict import AbPolicy, judge_pairs, needs_another_pair

    policy = AbPolicy(tolerance=tolerance, alpha=alpha)
    measured = [(_record(s["base"], s["base_contention"]),
                 _record(s["head"], s["head_contention"])) for s in stored]
    length = min(max_pairs, len(measured))
    orders = list(itertools.permutations(range(len(measured)), length)) if math.perm(
        len(measured), length) <= SEQUENCES else None
    if orders is None:
        rng = random.Random(length)
        orders = [tuple(rng.sample(range(len(measured)), length)) for _ in range(SEQUENCES)]
    counts: dict[str, int] = {}
    covered = used_pairs = 0
    for order in orders:
        used = 1
        result = judge_pairs([measured[order[0]]], policy)
        while used < length and needs_another_pair([result]):
            used += 1
            result = judge_pairs([measured[i] for i in order[:used]], policy)
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
        covered += result.ci is not None and result.ci[0] <= 0.0 <= result.ci[1]
        used_pairs += used
    total = len(orders)
    return {"sequences": total, **{k: v / total for k, v in sorted(counts.items())},
            "ci_covers_1": covered / total, "mean_pairs": used_pairs / total}


def markdown(result: dict[str, Any]) -> str:
    lines = [f"Replayed at tolerance {result['tolerance']:.1%}, alpha {result['alpha']}", "",
             "| test | runs | pair sd (median) | sd of run ratios | explained by rounds | "
             "process offset sd |", "|---|--:|--:|--:|--:|--:|"]
    for name, row in result["tests"].items():
        o = row["offset"]
        lines.append(f"| {name} | {row['runs']} | {o['pair_sd_median']:.2%} | "
                     f"{o['sd_of_run_ratios']:.2%} | {o['sd_explained_by_rounds']:.2%} | "
                     f"{o['offset_sd']:.2%} |")
    lines += ["", "One pair of workers per run, at each setting:", "",
              "| test | setting | regression | improvement | inconclusive | 95% CI covers "
              "1.0 | median CI half-width |", "|---|---|--:|--:|--:|--:|--:|"]
    for name, row in result["tests"].items():
        for key, v in row.items():
            if key.startswith("rounds="):
                lines.append(f"| {name} | {key} | {v['regression']}/{row['runs']} | "
                             f"{v['improvement']} | {v['inconclusive']} | "
                             f"{v['ci_covers_1']}/{row['runs']} | "
                             f"{v['median_ci_half_width']:.2%} |")
    lines += ["", "Fresh pairs of workers while the verdict is not a pass, up to --max-pairs "
              "(each stored run one pair; floor 1%, all rounds; shares of ordered sequences of "
              "distinct runs):", "",
              "| test | --max-pairs | sequences | regression | improvement | inconclusive | "
              "pass | 95% CI covers 1.0 | pairs per test |",
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for name, row in result["tests"].items():
        for k, v in row["sequential"].items():
            lines.append(f"| {name} | {k} | {v['sequences']} | {v.get('regression', 0):.1%} | "
                         f"{v.get('improvement', 0):.1%} | {v.get('inconclusive', 0):.1%} | "
                         f"{v.get('pass', 0):.1%} | {v['ci_covers_1']:.1%} | "
                         f"{v['mean_pairs']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from pytest_cpuperf.ab.verdict import DEFAULT_AB_TOLERANCE, DEFAULT_ALPHA

    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab_replay",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--floors", default="0,0.005,0.01")
    parser.add_argument("--rounds", default="10,20")
    parser.add_argument("--max-pairs", default="1,2,3,4",
                        help="comma-separated --max-pairs settings to replay")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_AB_TOLERANCE)
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA)
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    result = replay(args.files, [float(x) for x in args.floors.split(",")],
                    [int(x) for x in args.rounds.split(",")], args.tolerance, args.alpha,
                    [int(x) for x in args.max_pairs.split(",")])
    text = markdown(result)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
