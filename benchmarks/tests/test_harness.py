"""The harness: the offline replay of stored runs (in a subprocess, building no model) and the
fidelity blocks' pairing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import verdicts
from pytest_cpuperf.knobs import BY_NAME

DEFAULT_ALPHA = BY_NAME["alpha"].default

ROOT = Path(__file__).resolve().parents[2]
SMALL_RUNS = Path(__file__).with_name("data") / "replay-small.json"
"""11 of the stored separate runs of benchmarks/results/latest.json (reference x5)."""

NO_MODEL_LIBRARIES = """
import runpy
import sys


class NoModelLibraries:
    \"\"\"Any import of a library that builds or compiles a model fails.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("openvino", "torch", "nncf", "transformers"):
            raise ImportError(f"the replay imported {name}")
        return None


sys.meta_path.insert(0, NoModelLibraries())
sys.argv = ["benchmarks.run", *sys.argv[1:]]
runpy.run_module("benchmarks.run", run_name="__main__")
"""


def test_replay_runs_offline_and_writes_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "replayed.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    proc = subprocess.run(
        [sys.executable, "-c", NO_MODEL_LIBRARIES, "--replay", str(SMALL_RUNS),
         "--only", "sweep,false_alarms", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "models ready" not in proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert results["policy"]["alpha"] == DEFAULT_ALPHA
    reference_runs = 5
    assert results["false_alarms"]["k1"]["pairs"] == reference_runs * (reference_runs - 1)
    assert len(results["sweep"]) == len(verdicts.NOISE_FLOORS) * len(verdicts.ALPHAS)
    assert "detection" not in results and "fidelity" not in results
    summary = out.with_suffix(".md").read_text()
    assert f"Verdict figures computed at alpha {DEFAULT_ALPHA:g}," in summary
    for title in ("## False alarms (A/A, default policy", "## Statistics knobs"):
        assert title in summary
    sweep_rows = [line for line in summary.splitlines()
                  if line.startswith(("| 0.0", "| 0.1")) and line.count("|") > 5]
    assert len(sweep_rows) >= len(results["sweep"])
    assert summary in proc.stdout  # printed as well


def test_fidelity_blocks_pair_opposite_orders_so_a_linear_drift_cancels() -> None:
    from benchmarks.fidelity import abba_block_ratios

    drift = [0.96 ** k for k in range(4)]  # the machine slows 4% per measurement; no bias
    first = {"order": "benchmark_app, plugin", "ratio": drift[1] / drift[0]}
    second = {"order": "plugin, benchmark_app", "ratio": drift[2] / drift[3]}
    assert abba_block_ratios([first, second]) == [1.0]
    assert first["ratio"] < 0.97 and second["ratio"] > 1.04  # each pair alone is biased
    assert abba_block_ratios([first, first, second]) == abba_block_ratios([first, second])


def test_same_moment_candidates_are_parsed_and_bad_names_refused() -> None:
    from benchmarks.same_moment import _tiny, candidate_spec

    base = _tiny(20)
    assert candidate_spec("aa", base) is None
    assert candidate_spec("layers21", base).layers == 21
    assert candidate_spec("seq66", base).seq_len == 66
    assert candidate_spec("seq66", base).layers == 20
    for bad in ("layers", "seq0", "deeper"):
        with pytest.raises(SystemExit, match="--candidates"):
            candidate_spec(bad, base)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="a duet needs two cores")
def test_a_duet_runs_each_side_on_its_own_half_and_swaps_them() -> None:
    from benchmarks.duet import one_run
    from pytest_cpuperf.models import BertSpec, build_ir

    ir = build_ir(BertSpec.tiny())
    cores = sorted(os.sched_getaffinity(0))
    half = len(cores) // 2
    row = one_run("duet", ir, ir, seconds=1.0, turn=0.25)
    first, second = row["cpus"]
    assert first == {"base": cores[:half], "head": cores[half:2 * half]}
    assert second == {"base": first["head"], "head": first["base"]}
    assert row["rounds"] >= 2 and abs(row["log_ratio"]) < 1.0
    turns = one_run("turns", ir, ir, seconds=1.0, turn=0.25)
    assert turns["cpus"][0] == {"base": cores, "head": cores}


def test_duet_layouts_are_parsed_and_bad_ones_refused() -> None:
    from benchmarks.duet import parse_layouts

    assert parse_layouts("turns:1, duet:0.25") == [("turns", 1.0), ("duet", 0.25)]
    for bad in ("turns", "duet:0", "solo:1", "turns:x", ","):
        with pytest.raises(SystemExit, match="--layouts"):
            parse_layouts(bad)
