"""What a verdict could have seen (issue #26) and what a pass means (issue #29).

Through real pytest runs on figures fed to ``cpuperf.record`` (no timing involved): a change
within tolerance whose interval reaches beyond it is inconclusive, says how far its interval
reaches and what would decide it; ``--cpuperf-inconclusive`` decides whether that fails the
test; every report carries the ``rules_out`` figure.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytest_cpuperf.cli import main
from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
from pytest_cpuperf.report.json_report import read_report
from pytest_cpuperf.status import Status

RECORDING_TESTS = """
import json
import pathlib

import pytest

FIGURES = json.loads(pathlib.Path(__file__).with_name("figures.json").read_text())


@pytest.mark.cpuperf
@pytest.mark.parametrize("name", ["wide", "steady"])
def test_model(cpuperf, name):
    samples = FIGURES[name]
    cpuperf.record("throughput", sorted(samples)[len(samples) // 2], kind="throughput",
                   unit="samples/s", samples=samples)
"""

STEADY = [100.0, 100.2, 99.8, 100.1, 99.9]
SLIGHTLY_SLOWER = [v * 0.98 for v in STEADY]
"""-2%: within the 5% tolerance, but one baseline run's 90% CI reaches about -6.5%."""
TOLERANCE = 0.05


def _figures(pytester: pytest.Pytester, wide: list[float]) -> None:
    (pytester.path / "figures.json").write_text(json.dumps({"wide": wide, "steady": STEADY}))


@pytest.fixture
def recorded(pytester: pytest.Pytester) -> pytest.Pytester:
    """A baseline of steady figures for both tests, then a run to judge: ``wide`` 2% slower."""
    pytester.makepyfile(test_perf=RECORDING_TESTS)
    _figures(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    _figures(pytester, SLIGHTLY_SLOWER)
    return pytester


def _results(path: Path) -> dict[str, MetricResult]:
    return {r.test_id.split("[")[1].rstrip("]"): r for r in read_report(path).results}


def test_a_change_within_tolerance_with_a_wide_interval_is_inconclusive_and_warns(
        recorded: pytest.Pytester) -> None:
    result = recorded.runpytest("--cpuperf", "--cpuperf-report", "out/r.json")
    result.assert_outcomes(passed=2)  # warn, the default: the run passes
    assert result.ret == pytest.ExitCode.OK
    results = _results(recorded.path / "out" / "r.json")
    wide, steady = results["wide"], results["steady"]
    assert wide.status is Status.INCONCLUSIVE
    assert wide.change is not None and -TOLERANCE < wide.change < 0  # within tolerance...
    assert wide.rules_out is not None and wide.rules_out > TOLERANCE  # ...but not ruled out
    assert f"could not rule out a regression up to {wide.rules_out:.1%} (90% CI)" in \
        wide.message
    assert "measure base and head side by side with `cpuperf ab`, or record more baseline " \
           "runs" in wide.message
    assert steady.status is Status.PASS
    assert steady.rules_out is not None and steady.rules_out <= TOLERANCE
    assert f"rules out a regression above {steady.rules_out:.1%} (90% CI)" in steady.message
    out = result.stdout.str()
    assert re.search(r"wide\]\s+throughput.*inconclusive, up to \d+\.\d%", out), out
    assert re.search(r"steady\]\s+throughput.*pass, rules out >\d+\.\d%", out), out
    assert "cpuperf: inconclusive: 1 (warn; --cpuperf-inconclusive=fail to fail them)" in out


@pytest.mark.parametrize("how", [["--cpuperf-inconclusive=fail"], ["ini"]])
def test_inconclusive_fail_fails_the_test_as_a_regression_does(
        recorded: pytest.Pytester, how: list[str]) -> None:
    if how == ["ini"]:
        recorded.makeini("[pytest]\ncpuperf_inconclusive = fail\n")
        how = []
    result = recorded.runpytest("--cpuperf", "--cpuperf-report", "out/r.json", *how)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*[[]inconclusive[]] throughput of test_perf.py::test_model[[]wide[]] is within "
        "tolerance, but its interval is too wide to pass: it could not rule out a regression "
        "up to *% (90% CI)*[[]--cpuperf-inconclusive=fail[]]*",
        "*cpuperf: inconclusive: 1 (fail: they failed their tests; "
        "--cpuperf-inconclusive=warn to only warn)*",
    ])
    report = read_report(recorded.path / "out" / "r.json")
    assert report.inconclusive == "fail" and report.failed


def test_strict_and_warn_only_leave_inconclusive_to_its_own_option(
        recorded: pytest.Pytester) -> None:
    """--cpuperf-strict fails what gated nothing, not what the noise left undecided; warn-only
    never fails, whatever --cpuperf-inconclusive says."""
    recorded.runpytest("--cpuperf", "--cpuperf-strict").assert_outcomes(passed=2)
    recorded.runpytest("--cpuperf", "--cpuperf-warn-only",
                       "--cpuperf-inconclusive=fail").assert_outcomes(passed=2)


def test_a_bad_inconclusive_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=RECORDING_TESTS)
    result = pytester.runpytest("--cpuperf", "--cpuperf-inconclusive=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cpuperf-inconclusive must be warn or fail, e.g. fail; "
                                 "got 'maybe'*"])


def test_every_report_carries_what_the_interval_could_see(recorded: pytest.Pytester) -> None:
    recorded.runpytest("--cpuperf", "--cpuperf-report", "out/r.json", "--cpuperf-report",
                       "out/r.md", "--cpuperf-report", "out/r.html").assert_outcomes(passed=2)
    data = json.loads((recorded.path / "out" / "r.json").read_text())
    assert data["inconclusive"] == "warn"
    by_test = {r["test_id"]: r for r in data["results"]}
    wide = by_test["test_perf.py::test_model[wide]"]
    steady = by_test["test_perf.py::test_model[steady]"]
    assert wide["rules_out"] == pytest.approx(-wide["ci"][0], rel=1e-5)
    assert wide["rules_out"] > TOLERANCE >= steady["rules_out"] > 0
    markdown = (recorded.path / "out" / "r.md").read_text()
    assert re.search(r"inconclusive, up to \d+\.\d%", markdown)
    assert re.search(r"pass, rules out &gt;\d+\.\d%", markdown)
    assert "could not rule out a regression up to" in markdown
    html = (recorded.path / "out" / "r.html").read_text()
    assert re.search(r'<span class="seen" title="could not rule out a regression up to '
                     r'\d+\.\d% \(90% CI\)">up to \d+\.\d%</span>', html)
    assert re.search(r'<span class="seen" title="rules out a regression above \d+\.\d% '
                     r'\(90% CI\)">rules out &gt;\d+\.\d%</span>', html)


def test_cpuperf_compare_judges_alike_and_takes_inconclusive(
        recorded: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    recorded.runpytest("--cpuperf", "--cpuperf-report", "new.json").assert_outcomes(passed=2)
    baselines = str(recorded.path / ".cpuperf")
    new = str(recorded.path / "new.json")
    assert main(["compare", baselines, new]) == 0
    out = capsys.readouterr().out
    assert re.search(r"wide\]\s+throughput.*inconclusive, up to", out), out
    assert "cpuperf: inconclusive: 1 (warn;" in out
    assert main(["compare", baselines, new, "--inconclusive", "fail"]) == 1
    # a tolerance the interval rules out turns it into a pass, and the exit status follows
    assert main(["compare", baselines, new, "--inconclusive", "fail", "--tolerance",
                 "0.1"]) == 0


def _result(kind: str, ci: tuple[float, float], higher_is_better: bool,
            status: Status = Status.PASS) -> MetricResult:
    from pytest_cpuperf.records.results import BaselineRecord

    record = MetricRecord(test_id="t.py::t", metric="m", kind=kind, unit="s", value=1.0,
                          samples=[1.0, 1.0], higher_is_better=higher_is_better)
    return MetricResult(record, status, "", baseline=BaselineRecord.from_record(record),
                        change=sum(ci) / 2, ci=ci, tolerance=TOLERANCE, ci_level=0.9)


def test_rules_out_is_in_the_metrics_bad_direction() -> None:
    assert _result("throughput", (-0.018, 0.04), True).rules_out == pytest.approx(0.018)
    assert _result("throughput", (0.01, 0.04), True).rules_out == 0.0
    cold = _result("cold", (-0.03, 0.07), False, Status.INCONCLUSIVE)  # a time: up is worse
    assert cold.rules_out == pytest.approx(0.07)
    assert cold.rules_out_phrase() == "could not rule out a regression up to 7.0% (90% CI)"
    assert _result("throughput", (0.01, 0.04), True).rules_out_phrase() == \
        "rules out any regression (90% CI)"
    accuracy = _result("accuracy", (-0.01, -0.01), True)
    assert accuracy.rules_out is None and accuracy.to_dict()["rules_out"] is None


def test_the_report_reader_checks_rules_out_and_reads_older_files() -> None:
    result = _result("throughput", (-0.018, 0.04), True)
    data = RunReport(machine={}, results=[result], inconclusive="warn").to_dict()
    assert data["results"][0]["rules_out"] == pytest.approx(0.018)
    assert RunReport.from_dict(data).inconclusive == "warn"
    older = json.loads(json.dumps(data))
    del older["inconclusive"], older["results"][0]["rules_out"]
    read = RunReport.from_dict(older)
    assert read.inconclusive is None
    assert read.results[0].rules_out == pytest.approx(0.018)  # derived from its interval
    bad = json.loads(json.dumps(data))
    bad["results"][0]["rules_out"] = -0.1
    with pytest.raises(ValueError, match="field 'rules_out' must be a number >= 0 or null"):
        RunReport.from_dict(bad)
    bad = json.loads(json.dumps(data))
    bad["inconclusive"] = "sometimes"
    with pytest.raises(ValueError, match="field 'inconclusive' must be one of warn, fail"):
        RunReport.from_dict(bad)
