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


STORE_CONFTEST = """
from pytest_cpuperf.store.baselines import BaselineFile

class ReadOnlyStore:
    '''Baselines from elsewhere (none here); updates go to the file store.'''

    def __init__(self, files):
        self.files = files
        self.reads = 0

    @property
    def path(self):
        return self.files.path

    def load(self):
        self.reads += 1
        return BaselineFile(path=self.files.path, machine={}, records={})

    def update(self, records, consistent):
        return self.files.update(records, consistent)

def pytest_cpuperf_make_store(config, files):
    config.made_store = ReadOnlyStore(files)
    return config.made_store

def pytest_unconfigure(config):
    print(f"store reads: {config.made_store.reads}")
"""


def test_a_hook_chooses_the_baseline_store(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(STORE_CONFTEST)
    pytester.makepyfile(test_perf=TEST)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    result = pytester.runpytest("--cpuperf", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*no baseline*", "store reads: 1"])  # the file is not read
    assert next((pytester.path / ".cpuperf").glob("*.json")).exists()  # updates: the files
