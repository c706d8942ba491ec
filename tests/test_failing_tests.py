"""A test that fails its own assertion keeps its metrics: judged, reported beside the failure,
and the failure reaches every report (so a merged CI job fails too)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from pytest_cpuperf.cli import main

FAILING = """
import pytest

@pytest.mark.cpuperf
def test_speedup(cpuperf):
    cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                   samples=[100.0, 101.0, 99.0, 100.5, 99.5])
    assert False, "expected sparse >= x1.2 dense, lower bound x1.086"

@pytest.mark.cpuperf
def test_ok(cpuperf):
    cpuperf.record("accuracy", 0.9, kind="accuracy")
"""


def test_metrics_of_a_failing_test_are_judged_and_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=FAILING)
    report = pytester.path / "report.json"
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", str(report),
                                "--junitxml", "junit.xml")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*test_speedup*throughput*no baseline*"])
    data = json.loads(report.read_text())
    by_test = {r["test_id"]: r for r in data["results"]}
    failing = by_test["test_perf.py::test_speedup"]
    assert failing["status"] == "no baseline"
    assert failing["test_failure"].startswith("AssertionError: expected sparse >= x1.2 dense")
    assert by_test["test_perf.py::test_ok"]["test_failure"] is None
    assert list(data["failed_tests"]) == ["test_perf.py::test_speedup"]
    assert "expected sparse >= x1.2 dense" in data["failed_tests"]["test_perf.py::test_speedup"]
    props = {p.get("name"): p.get("value")
             for p in ET.parse(pytester.path / "junit.xml").iter("property")}
    assert props["cpuperf:throughput"] == "100.0"
    assert props["cpuperf:throughput:unit"] == "samples/s"
    assert props["cpuperf:throughput:verdict"] == "no baseline"


def test_junit_properties_carry_baseline_change_and_ci(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=FAILING.replace('    assert False, "expected', '    # "'))
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    pytester.runpytest("--cpuperf", "--junitxml", "junit.xml").assert_outcomes(passed=2)
    props = {p.get("name"): p.get("value")
             for p in ET.parse(pytester.path / "junit.xml").iter("property")}
    assert float(props["cpuperf:throughput:baseline"]) == pytest.approx(100.0)
    assert float(props["cpuperf:throughput:change"]) == pytest.approx(0.0, abs=1e-9)
    assert props["cpuperf:throughput:ci"].startswith("90% [")
    assert props["cpuperf:accuracy:ci"] == "[0, 0]"


def test_a_merged_job_fails_when_a_shard_had_a_failing_test(
        pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    pytester.makepyfile(test_perf=FAILING)
    shard = pytester.path / "shard.json"
    pytester.runpytest("--cpuperf", "--cpuperf-report", str(shard))
    out = pytester.path / "merged.json"
    assert main(["merge", "-o", str(out), str(shard)]) == 1
    assert "test_perf.py::test_speedup" in json.loads(out.read_text())["failed_tests"]
