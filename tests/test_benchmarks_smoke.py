"""benchmarks/ smoke test: the offline replay of stored runs, in a subprocess, builds no model."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import verdicts
from pytest_cpuperf.knobs import BY_NAME

DEFAULT_ALPHA = BY_NAME["alpha"].default

ROOT = Path(__file__).resolve().parents[1]
SMALL_RUNS = Path(__file__).with_name("data") / "benchmarks-replay-small.json"
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


def test_noisy_counts_under_load_verdicts_per_run_and_backend() -> None:
    from benchmarks.noisy import per_backend

    stored = json.loads((ROOT / "benchmarks" / "results" / "trust-ipex.json").read_text())
    row = per_backend(stored["runs"])["ipex"]
    runs_per_load = stored["meta"]["runs"]
    assert row["aa_runs"] == row["slower_runs"] == 2 * runs_per_load  # hog1 and hog2
    assert row["aa_judgements"] == row["aa_runs"] * (runs_per_load + runs_per_load // 3)
    assert row["aa_false_regression"] == 0 and row["slower_passed"] == 0


def test_compile_spread_renders_its_stored_runs() -> None:
    """The stored compile-spread runs (why benchmarks.trust compiles afresh per pair) render
    to the figures the README quotes."""
    from benchmarks.compile_spread import markdown

    texts = []
    for run in ("run1", "run2"):
        stored = json.loads((ROOT / "benchmarks" / "results" /
                             f"compile-spread-{run}.json").read_text())["summary"]
        texts.append(markdown(stored, stored["command"]))
    assert "| 2 | 169.3 | x1.045 (x1.01-x1.081) | 7.3% |" in texts[0]
    assert "| 4 | 163.41 | x0.9723 (x0.9461-x0.9993) | 5.8% |" in texts[1]


def test_trust_pools_stored_fidelity_series_to_the_figures_the_readme_quotes() -> None:
    from benchmarks.trust import pooled

    results = ROOT / "benchmarks" / "results"
    process = pooled([results / "trust-fidelity-fresh-compile.json",
                      results / "trust-fidelity-fresh-compile-2.json"]).splitlines()
    assert process[2].startswith("pooled: x1.012 (95% CI x0.9961-x1.028, 190 pairs")
    assert process[2].endswith("within +-1.5%: False")
    in_process = pooled([results / f"trust-fidelity-in-process{suffix}.json"
                         for suffix in ("", "-2", "-3")]).splitlines()
    assert in_process[3].startswith("pooled: x1.008 (95% CI x0.9956-x1.021, 300 pairs")
    assert in_process[4:] == [
        "  benchmark_app first, then plugin: x1.016 (95% CI x0.9986-x1.033, 150 pairs)",
        "  plugin first, then benchmark_app: x1.001 (95% CI x0.9821-x1.02, 150 pairs)"]


def test_ramp_cold_cost_is_the_first_inferences_excess_over_the_window(capsys) -> None:
    """What benchmark_app's window right after a compile pays for its requests' first
    inferences; the stored series' figure is the one the README quotes."""
    from benchmarks.ramp import cold_cost, first_inference_excess_ms, main

    row = {"nireq": 2, "benchmark_app_style": {"fps": 100.0, "first_latency_ms": [26.0, 19.0]}}
    assert first_inference_excess_ms(row) == 6.0  # 20 ms is the window's mean latency
    assert "0.050% of the window's stream time" in cold_cost([row], 6.0)
    main(["--stored", str(ROOT / "benchmarks" / "results" / "ramp.json")])
    assert "by 5.7 ms summed over the requests (max 27.0): 0.048%" in capsys.readouterr().out


def test_stored_slices_carry_to_the_fidelity_figure_the_readme_quotes() -> None:
    """The stored slices series: each block's figure at -t 6 is its loop ratio, the plugin's
    window and benchmark_app's edges carried to 6 s, and the blocks pool to the README's CI."""
    from benchmarks.slices import summary

    stored = json.loads((ROOT / "benchmarks" / "results" / "slices.json").read_text())
    blocks, figures = stored["runs"], stored["summary"]
    for block in blocks:
        assert block["at_t6"] == pytest.approx(block["loop_ratio"] * (
            1 + (block["plugin_window"] - 1) * 0.25 / 6) * (1 + block["edge_ms"] / 6000),
            rel=1e-4)
    args = argparse.Namespace(model="bert-base", slice=0.25, cycles=12)
    again = summary(blocks, args, figures["command"])
    assert again["at_t6_warm"] == figures["at_t6_warm"] == {
        "mean": 0.9993, "low": 0.9929, "high": 1.006, "pairs": 60, "within_1_5pct": True}
    assert figures["plugin_window"]["high"] < 1  # the single-trial end effect is real


def test_drift_slices_cancel_a_slow_drift_that_halves_do_not() -> None:
    """benchmarks.drift on a made trace: a rate that swings slowly (a 20 s period) splits
    unevenly into 6 s halves and evenly into A-B-B-A slices of 0.25 s."""
    import math

    from benchmarks.drift import lag1, pair_sd, per_second

    stamps, t = [], 0.0
    while t < 120:
        t += 1 / (100 * (1 + 0.1 * math.sin(2 * math.pi * t / 20)))
        stamps.append(t)
    assert min(per_second(stamps)) >= 89 and max(per_second(stamps)) <= 111
    assert lag1([math.log(r) for r in per_second(stamps)]) > 0.8
    assert pair_sd(stamps, 6.0, "ABBA") > 0.05
    assert pair_sd(stamps, 0.25, "ABBA") < 0.01
