"""The plugin's own hooks, implemented by a conftest as users would."""

from __future__ import annotations

import json

import pytest

CONFTEST = """
def pytest_cpuperf_update_machine_info(config, machine_info):
    machine_info["runner"] = "ci-xeon-07"
    machine_info["key"] = "a key a hook must not change"

def pytest_cpuperf_update_report(config, report):
    report.extra["pipeline"] = "nightly"
    report.results = [r for r in report.results if r.metric != "dropped"]
"""
TEST = """
import pytest

@pytest.mark.cpuperf
def test_model(cpuperf):
    cpuperf.record("accuracy", 0.9, kind="accuracy")
    cpuperf.record("dropped", 0.5, kind="accuracy")
"""


def test_hooks_change_the_machine_and_the_report(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_perf=TEST)
    report = pytester.path / "r.json"
    pytester.runpytest("--cpuperf", "--cpuperf-update", "--cpuperf-report",
                       str(report)).assert_outcomes(passed=1)
    data = json.loads(report.read_text())
    assert data["machine"]["runner"] == "ci-xeon-07"
    assert data["machine"]["key"] != "a key a hook must not change"
    assert data["extra"] == {"pipeline": "nightly"}
    assert [r["metric"] for r in data["results"]] == ["accuracy"]
    baseline = next((pytester.path / ".cpuperf").glob("*.json"))
    assert baseline.stem == data["machine"]["key"]
    assert json.loads(baseline.read_text())["machine"]["runner"] == "ci-xeon-07"
