"""End to end: A/A false alarms and detection of ``pytest --cpuperf`` itself, run after run.

``python -m benchmarks.e2e [--runs 10] [--recordings 3] [--hog 0|1|2] [--slower-seq 74]
[--name e2e-quiet]``

A two-test file on the tiny BERT (2 layers x 128, INT8, thousands of samples/s): one test at
2 streams x 2 threads, one with the latency hint (the fast models and the latency configuration
issue #12 asks every false-alarm figure to include). In a temporary directory the baseline is
recorded ``--recordings`` times (``pytest --cpuperf --cpuperf-update``, each a fresh pytest
process at its own moment), then the identical model runs ``--runs`` times (A/A), then a slower
one (sequence 74 instead of 64 unless ``--slower-seq``, as in ``benchmarks.noisy``) ``--runs``
times, alternating A/A and slower so both see the same mix of machine moments. Every figure is
the gate's own verdict, read from each run's ``--cpuperf-report`` JSON; nothing is replayed.
``--hog N`` runs every judged run (not the recordings, which stay quiet) under the noisy
neighbour of ``benchmarks.noisy``: a pure-Python busy loop pinned to each of N cores for the
whole pytest process. Results go to ``benchmarks/results/<name>.json`` and ``.md`` after every
run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .common import load, save_series, say
from .noisy import hogs

ROOT = Path(__file__).resolve().parents[1]
SEQ = {"same": 64, "slower": 74}
TEST_FILE = '''
import os

import pytest

from pytest_cpuperf.models import BertSpec, build_ir

SEQ = int(os.environ["CPUPERF_E2E_SEQ"])


@pytest.fixture(scope="session")
def model():
    return build_ir(BertSpec.tiny(seq_len=SEQ), sparsity=0.0)


@pytest.mark.cpuperf
def test_throughput_hint(ov_compile, cpuperf, model):
    cpuperf.measure(ov_compile(model, streams=2, threads=2))


@pytest.mark.cpuperf
def test_latency_hint(ov_compile, cpuperf, model):
    cpuperf.measure(ov_compile(model, hint="latency"))
'''


def pytest_run(directory: Path, variant: str, number: int, update: bool, hog: int = 0,
               seq: int | None = None) -> dict[str, Any]:
    """One fresh ``pytest --cpuperf`` process, with ``hog`` cores busy from its start; its exit
    status and throughput verdicts."""
    report = directory / f"report-{number}.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cpuperf",
               "--cpuperf-baseline-dir", str(directory / "baselines"),
               "--cpuperf-report", str(report), "test_e2e.py"]
    if update:
        command.append("--cpuperf-update")
    env = dict(os.environ, CPUPERF_E2E_SEQ=str(seq or SEQ[variant]), PYTHONPATH=str(ROOT))
    began, load_before = time.monotonic(), load()
    with hogs(hog, delay_s=0.0):
        done = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True)
    if not report.exists():
        raise RuntimeError(f"pytest wrote no report (exit {done.returncode}):\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    verdicts = {}
    for result in json.loads(report.read_text())["results"]:
        if result["metric"].endswith("throughput"):
            name = result["test_id"].split("::")[-1]
            verdicts[name] = {"status": result["status"], "change": result.get("change"),
                              "ci": result.get("ci")}
    return {"variant": variant, "update": update, "hog": hog, "exit": done.returncode,
            "seconds": round(time.monotonic() - began, 1), "load_before": load_before,
            "verdicts": verdicts}


def summarize(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for variant in SEQ:
        judged = [r for r in runs if r["variant"] == variant and not r["update"]]
        statuses = Counter(v["status"] for r in judged for v in r["verdicts"].values())
        table[variant] = {"runs": len(judged), "exit_1": sum(r["exit"] == 1 for r in judged),
                          "verdicts": dict(statuses)}
    return {"recordings": args.recordings, "runs_per_variant": args.runs, "hog": args.hog,
            "slower_seq": args.slower_seq,
            "seconds_per_run": sorted(r["seconds"] for r in runs)[len(runs) // 2] if runs else 0,
            "load": [r["load_before"][0] for r in runs], "table": table}


def markdown(summary: dict[str, Any]) -> str:
    loads = ", ".join(f"{x:.1f}" for x in summary["load"])
    lines = [f"`pytest --cpuperf` end to end: baseline recorded {summary['recordings']} times, "
             f"then A/A and a slower model (seq {summary.get('slower_seq', 74)} vs 64) "
             f"alternating, "
             f"{summary['runs_per_variant']} runs each, {summary.get('hog') or 'no'} core(s) "
             f"hogged during them; median {summary['seconds_per_run']} s "
             f"per run; 1-min load before each run: {loads}", "",
             "| head | runs | runs that failed the gate | throughput verdicts (2 tests per run) |",
             "|---|--:|--:|---|"]
    for variant, row in summary["table"].items():
        shown = ", ".join(f"{k} {v}" for k, v in sorted(row["verdicts"].items()))
        lines.append(f"| {variant} | {row['runs']} | {row['exit_1']} | {shown} |")
    return "\n".join(lines) + "\n"


def write(runs: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """The results so far, after every run."""
    summary = summarize(runs, args)
    save_series(args.name, summary, runs, markdown(summary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--recordings", type=int, default=3)
    parser.add_argument("--hog", type=int, default=0, choices=(0, 1, 2),
                        help="cores kept busy by a pure-Python loop during every judged run")
    parser.add_argument("--slower-seq", type=int, default=SEQ["slower"],
                        help="sequence length of the slower model (the A/A model runs 64)")
    parser.add_argument("--name", default="e2e")
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cpuperf-e2e-") as tmp:
        directory = Path(tmp)
        (directory / "test_e2e.py").write_text(TEST_FILE)
        plan = [("same", True)] * args.recordings + [
            (variant, False) for _ in range(args.runs) for variant in SEQ]
        for number, (variant, update) in enumerate(plan):
            runs.append(pytest_run(directory, variant, number, update,
                                   hog=0 if update else args.hog,
                                   seq=args.slower_seq if variant == "slower" else None))
            say(f"{number + 1}/{len(plan)} {'record' if update else variant}: exit "
                f"{runs[-1]['exit']}, " + ", ".join(
                    f"{k} {v['status']}" for k, v in runs[-1]["verdicts"].items()))
            write(runs, args)
    print(markdown(summarize(runs, args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
