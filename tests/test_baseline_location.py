"""Where baselines are looked for, and how loudly a run says it found none.

pytest picks its rootdir from the existing paths among the command-line arguments: once a report
written by a previous run exists outside the project, the same command takes another rootdir and
would look for baselines elsewhere. A gate run that finds no baseline file must say so, naming
the directory it looked in and the machine files that are there.
"""

from __future__ import annotations

import json

import pytest

from pytest_cpuperf.isa import detect
from pytest_cpuperf.store.baselines import baseline_path

PERF_TEST = """
import pytest

@pytest.mark.cpuperf
def test_model(cpuperf):
    cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                   samples=[100.0, 101.0, 99.0, 100.5, 99.5])
"""


def _project(pytester: pytest.Pytester) -> None:
    """A project (its own pytest config) holding ``examples/``, a pytest project of its own
    with a baseline recorded for this machine: the layout of this repository."""
    (pytester.path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    examples = pytester.mkdir("examples")
    (examples / "pytest.ini").write_text("[pytest]\ncpuperf_baseline_dir = .cpuperf\n")
    (examples / "test_perf.py").write_text(PERF_TEST)
    result = pytester.runpytest("-c", "examples/pytest.ini", "--rootdir", "examples",
                                "--cpuperf", "--cpuperf-update", "examples")
    result.assert_outcomes(passed=1)
    assert baseline_path(examples / ".cpuperf", detect()).is_file()


def test_an_existing_report_path_moves_the_rootdir_and_the_run_says_so(
        pytester: pytest.Pytester) -> None:
    _project(pytester)
    report = pytester.path / "reports" / "shard.json"
    report.parent.mkdir()
    report.write_text("{}")  # the first run's report: pytest now sees a common ancestor
    moved = pytester.runpytest("--cpuperf", "examples", "--cpuperf-report", str(report))
    moved.assert_outcomes(passed=1)
    key = baseline_path(pytester.path, detect()).name
    moved.stdout.fnmatch_lines([
        f"cpuperf: WARNING: no baseline file for this machine: looked for {key} in "
        f"{pytester.path / '.cpuperf'} (the directory does not exist)*",
        "*no baseline*",
        "cpuperf WARNING: no baseline file for this machine*"])


def test_a_pinned_rootdir_finds_the_baselines_on_every_run(pytester: pytest.Pytester) -> None:
    _project(pytester)
    report = pytester.path / "reports" / "shard.json"
    for _ in range(2):  # the second run has the first run's report on disk
        run = pytester.runpytest("-c", "examples/pytest.ini", "--rootdir", "examples",
                                 "--cpuperf", "examples", "--cpuperf-report", str(report))
        run.assert_outcomes(passed=1)
        assert "WARNING: no baseline" not in run.stdout.str()
        results = json.loads(report.read_text())["results"]
        assert [r["status"] for r in results] == ["pass"]


def test_the_warning_lists_the_machine_files_that_are_there(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=PERF_TEST)
    # another machine's file on every machine (an AMD EPYC with AVX-512 and 2 cores would read
    # "amd-epyc--avx512_vnni--2c.json" as its own file from before keys named the generation)
    other = pytester.mkdir(".cpuperf") / "another-cpu--intel-f99-m999--avx2--1024c.json"
    other.write_text("{}")
    run = pytester.runpytest("--cpuperf")
    run.assert_outcomes(passed=1)
    run.stdout.fnmatch_lines(["cpuperf: WARNING: no baseline file for this machine*"
                              "it holds another-cpu--intel-f99-m999--avx2--1024c.json*"
                              "--cpuperf-update*"])
