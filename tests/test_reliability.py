"""Issue #10: identical inputs compare equal, bad input and damaged files give clear errors,
non-finite values never pass a gate nor reach a JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cpuperf import store
from pytest_cpuperf.cli import main
from pytest_cpuperf.evaluate import Policy, evaluate
from pytest_cpuperf.report import write_report
from pytest_cpuperf.results import MetricRecord, RunReport

MACHINE = {"key": "intel-xeon--amx--2c", "cpu": "Intel(R) Xeon(R) Processor", "cores": 2,
           "isa_class": "amx", "flags": ["amx_int8"]}
TEST = "tests/test_bert.py::test_int8"


def busy_throughput() -> MetricRecord:
    """A run on a busy machine: raw samples low, contention factors well above 1."""
    samples = [60.0, 62.0, 61.0, 59.5, 60.5]
    return MetricRecord(TEST, "throughput", "throughput", "samples/s", 60.5, samples,
                        versions={"openvino": "2026.4.1"}, busy=0.4,
                        contention=[1.6, 1.65, 1.62, 1.58, 1.61])


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- item 1: compare of identical data ------------------------------------------------------

def test_compare_baseline_with_itself_is_no_change(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "base.json"
    store.update_file(path, MACHINE, [busy_throughput()])
    code, out, _ = run_cli(capsys, "compare", str(path), str(path), "--format", "json")
    result = json.loads(out)["results"][0]
    assert (code, result["status"], result["change"]) == (0, "pass", 0.0), out


def test_compare_report_with_baseline_of_the_same_run(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    record = busy_throughput()
    path = tmp_path / "base.json"
    store.update_file(path, MACHINE, [record])
    report = tmp_path / "run.json"
    write_report(report, RunReport(MACHINE, [evaluate(record, None, Policy())]))
    for old, new in ((report, path), (path, report)):
        code, out, _ = run_cli(capsys, "compare", str(old), str(new), "--format", "json")
        result = json.loads(out)["results"][0]
        assert (code, result["status"], result["change"]) == (0, "pass", 0.0), (old, out)
