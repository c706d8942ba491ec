"""``cpuperf ab --mode duet``: both sides at once, each worker on its own half of the CPUs.

The runs are real ``cpuperf ab`` subprocesses with real pytest workers and tiny OpenVINO models;
the halves come from this process's CPUs, so the tests hold on any machine of 2 CPUs or more.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_cpuperf.ab.coordinator import halves
from pytest_cpuperf.report.framing import cpus_text, layout_lines
from tests.test_ab import FAST, results_of, run_ab, write_side

TWO_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                              reason="a duet needs 2 CPUs or more; this process may use 1")


def test_halves_split_the_cpus_evenly_and_leave_an_odd_one_idle() -> None:
    assert halves([1, 0]) == ((0,), (1,))
    assert halves([0, 1, 2]) == ((0,), (1,))
    assert halves([4, 5, 6, 7, 0, 1, 2, 3]) == ((0, 1, 2, 3), (4, 5, 6, 7))
    with pytest.raises(ValueError, match="needs 2 CPUs or more, this process may use 1"):
        halves([3])


def test_the_layout_line_names_each_pairs_halves() -> None:
    assert cpus_text([3]) == "CPU 3"
    assert cpus_text([2, 0, 1]) == "CPUs 0-2"
    assert cpus_text([0, 2]) == "CPUs 0,2"
    info = {"mode": "duet", "cpus": {"t.py::a": [[[0], [1]], [[1], [0]]], "t.py::b": []}}
    [line] = layout_lines(info)
    assert line.startswith("layout: duet: base and head ran at the same time")
    assert "pair 1: base on CPU 0, head on CPU 1, pair 2: base on CPU 1, head on CPU 0" in line
    assert "(for t.py::a; each fresh pair of workers takes the other halves)" in line
    assert layout_lines({"mode": "turns"}) == []


@TWO_CPUS
def test_a_duet_runs_both_sides_at_once_each_on_its_half(tmp_path: Path,
                                                         tiny_int8_ir: Path) -> None:
    base = write_side(tmp_path / "base", tiny_int8_ir)
    head = write_side(tmp_path / "head", tiny_int8_ir)
    out = run_ab("--base", str(base), "--head", str(head), "--mode", "duet", "--rounds", "4",
                 "--tolerance", "0.1", "--report", "ab.json", "--report", "ab.md", "--",
                 *FAST, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    throughput = results_of(tmp_path / "ab.json")[("test_model", "throughput")]
    assert throughput["status"] != "regression"  # A/A; a loaded machine may be inconclusive
    first, second = (list(h) for h in halves(os.sched_getaffinity(0)))
    ab = json.loads((tmp_path / "ab.json").read_text())["machine"]["ab"]
    assert ab["mode"] == "duet"
    # each worker was started on its half, and the fresh pair on the other halves
    assert ab["cpus"]["test_side.py::test_model"][:2] == [[first, second], [second, first]]
    assert ab["sides"]["base"]["cpus"] == first and ab["sides"]["head"]["cpus"] == second
    assert ab["settle_pauses"] == {"test_side.py::test_model": 0}  # nobody waits for anyone
    # at once: while one side measured, the other half of the machine was busy with the other
    # side (in turns it idles); the record's busy share is of the whole machine
    assert throughput["current"]["busy"] > 0.25 and throughput["baseline"]["runs"][0]["busy"] \
        > 0.25, throughput
    assert "base and head at once on their own halves of the CPUs (duet)" in out.stderr
    # neither side goes first: the fresh pair's processes start, compile and warm up together
    assert "starting the head and base workers at once" in out.stderr
    assert "layout: duet: base and head ran at the same time" in out.stdout
    markdown = (tmp_path / "ab.md").read_text()
    assert "**layout:** duet: base and head ran at the same time" in markdown


@TWO_CPUS
@pytest.mark.slow
def test_a_duet_catches_a_slower_head(tmp_path: Path, tiny_int8_ir: Path,
                                      slower_int8_ir: Path) -> None:
    base = write_side(tmp_path / "base", tiny_int8_ir)
    head = write_side(tmp_path / "head", slower_int8_ir)
    out = run_ab("--base", str(base), "--head", str(head), "--mode", "duet", "--rounds", "6",
                 "--tolerance", "0.1", "--report", "ab.json", "--", *FAST, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    throughput = results_of(tmp_path / "ab.json")[("test_model", "throughput")]
    assert throughput["status"] == "regression"
    assert throughput["ci"][1] < 0


def test_a_duet_on_one_cpu_is_a_usage_error_before_anything_starts(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    one = min(os.sched_getaffinity(0))
    out = subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "ab", "--mode", "duet"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                         preexec_fn=lambda: os.sched_setaffinity(0, [one]))
    assert out.returncode == 2, out.stdout + out.stderr
    assert ("--mode duet: a duet needs 2 CPUs or more, this process may use 1 (one half per "
            "side); run with --mode turns, or give the job at least 2 CPUs") in out.stderr
    assert "starting the" not in out.stderr


def test_an_unknown_mode_is_a_usage_error_naming_the_choices(tmp_path: Path) -> None:
    out = run_ab("--mode", "both", cwd=tmp_path)
    assert out.returncode == 2
    assert "argument --mode: must be turns or duet, e.g. duet; got 'both'" in out.stderr
