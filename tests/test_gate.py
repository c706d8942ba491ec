"""Baselines, verdicts and gating through real pytest runs.

The figures are fed to the recorder from a file so that each path (pass, regression,
inconclusive, improvement...) is exercised deterministically; the last test measures real
models and must catch a genuinely slower one under the same test name.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pytest_cpuperf.isa import detect
from pytest_cpuperf.report.json_report import read_report
from pytest_cpuperf.store.baselines import baseline_path

RECORDING_TESTS = """
import json
import pathlib

import pytest

FIGURES = json.loads(pathlib.Path(__file__).with_name("figures.json").read_text())


@pytest.mark.cpuperf
@pytest.mark.parametrize("name", ["alpha", "beta"])
def test_model(cpuperf, name):
    samples = FIGURES[name]
    cpuperf.record("throughput", sorted(samples)[len(samples) // 2], kind="throughput",
                   unit="samples/s", samples=samples, versions={"openvino": "2026.4.1"})
"""

STEADY = [100.0, 101.0, 99.0, 100.5, 99.5]


def _setup(pytester: pytest.Pytester, alpha: list[float], beta: list[float] = STEADY) -> None:
    pytester.makepyfile(test_perf=RECORDING_TESTS)
    _figures(pytester, alpha, beta)


def _figures(pytester: pytest.Pytester, alpha: list[float], beta: list[float] = STEADY) -> None:
    (pytester.path / "figures.json").write_text(json.dumps({"alpha": alpha, "beta": beta}))


def _baseline_file(pytester: pytest.Pytester) -> Path:
    return baseline_path(pytester.path / ".cpuperf", detect())


def test_update_saves_then_same_figures_pass(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    first = pytester.runpytest("--cpuperf")
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*alpha*throughput*no baseline*"])
    assert not _baseline_file(pytester).exists()
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    stored = json.loads(_baseline_file(pytester).read_text())
    assert stored["schema_version"] == 1
    assert stored["machine"]["key"] == _baseline_file(pytester).stem
    record = stored["records"]["test_perf.py::test_model[alpha]"]["throughput"]
    assert record["runs"][0]["samples"] == STEADY
    assert record["runs"][0]["versions"] == {"openvino": "2026.4.1"}
    again = pytester.runpytest("--cpuperf")
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines(["*alpha*throughput*pass*"])


def test_regression_fails_with_figures(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    _figures(pytester, [80.0, 81.0, 79.5, 80.5, 80.2])
    result = pytester.runpytest("--cpuperf")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*[[]regression[]] throughput of test_perf.py::test_model[[]alpha[]] regressed: "
        "80.2 samples/s vs baseline 100.0 samples/s (*, openvino 2026.4.1): -19.*% "
        "(90% CI -*% to -*%, p=*), tolerance 5.0%*",
    ])


def test_noise_too_large_is_inconclusive_not_failed(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update")
    _figures(pytester, [70.0, 118.0, 88.0, 75.0, 112.0])
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*alpha*inconclusive*",
                                 "*noise is too large to tell*more --cpuperf-trials*"])


def test_improvement_passes_and_suggests_update(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update")
    _figures(pytester, [130.0, 131.0, 129.0, 130.5, 129.5])
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*improved*run with --cpuperf-update to keep it*"])


def test_strict_fails_without_baseline(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    result = pytester.runpytest("--cpuperf", "--cpuperf-strict")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*[[]no baseline[]]*no baseline for this machine*"
                                 "[[]--cpuperf-strict[]]*"])


def test_warn_only_reports_but_passes(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update")
    _figures(pytester, [50.0, 51.0, 49.0, 50.5, 49.5])
    result = pytester.runpytest("--cpuperf", "--cpuperf-warn-only")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*alpha*regression*"])


def test_absolute_floors_work_without_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.cpuperf(min_throughput=500, max_latency_ms=1.0)
        def test_floor(cpuperf):
            cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                           samples=[100.0, 100.0])
            cpuperf.record("latency_p90_ms", 0.5, kind="latency", unit="ms",
                           higher_is_better=False)

        @pytest.mark.cpuperf(max_latency_ms=1.0)
        def test_ceiling(cpuperf):
            cpuperf.record("latency_p90_ms", 3.0, kind="latency", unit="ms",
                           higher_is_better=False)
    """)
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*[[]below floor[]] throughput of *test_floor is 100.0 samples/s, below the floor "
        "500.0 samples/s*",
        "*[[]above ceiling[]] latency_p90_ms of *test_ceiling is 3.000 ms, above the ceiling "
        "1.000 ms*",
    ])


def test_update_keeps_other_records_and_learns_noise(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    before = json.loads(_baseline_file(pytester).read_text())["records"]
    _figures(pytester, [101.0, 102.0, 100.0, 101.5, 100.5], beta=[10.0, 10.0, 10.0])
    pytester.runpytest("--cpuperf", "--cpuperf-update", "-k", "alpha").assert_outcomes(
        passed=1, deselected=1)
    after = json.loads(_baseline_file(pytester).read_text())["records"]
    assert after["test_perf.py::test_model[beta]"] == before["test_perf.py::test_model[beta]"]
    runs = after["test_perf.py::test_model[alpha]"]["throughput"]["runs"]
    assert len(runs) == 2, "a consistent re-recording is appended as one more run"
    _figures(pytester, [50.0, 50.0, 50.0])
    pytester.runpytest("--cpuperf", "--cpuperf-update", "-k", "alpha")
    runs = json.loads(_baseline_file(pytester).read_text())["records"][
        "test_perf.py::test_model[alpha]"]["throughput"]["runs"]
    assert [r["samples"] for r in runs] == [[50.0, 50.0, 50.0]], "a changed model starts afresh"


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "*could not be read as JSON*left untouched*"),
    ('{"some": "other tool"}', "*is not a pytest-cpuperf baseline file*left untouched*"),
    ('{"schema": "pytest-cpuperf/baselines", "schema_version": 99, "records": {}}',
     "*schema_version 99, newer than this pytest-cpuperf understands*"),
])
def test_damaged_baseline_is_reported_and_never_overwritten(
        pytester: pytest.Pytester, content: str, message: str) -> None:
    _setup(pytester, STEADY)
    path = _baseline_file(pytester)
    path.parent.mkdir(parents=True)
    path.write_text(content)
    result = pytester.runpytest("--cpuperf")
    result.assert_outcomes(errors=2)  # at setup: nothing is measured against a damaged file
    result.stdout.fnmatch_lines([f"*{path.name}{message}"])
    update = pytester.runpytest("--cpuperf", "--cpuperf-update")
    assert update.ret != pytest.ExitCode.OK
    update.stdout.fnmatch_lines([f"cpuperf ERROR: *{path.name}{message}"])
    assert path.read_text() == content


def test_reports_agree_with_each_other(pytester: pytest.Pytester) -> None:
    _setup(pytester, STEADY)
    pytester.runpytest("--cpuperf", "--cpuperf-update")
    _figures(pytester, [80.0, 81.0, 79.5, 80.5, 80.2])
    result = pytester.runpytest("--cpuperf", "--cpuperf-report=out/r.json",
                                "--cpuperf-report=out/r.md", "--cpuperf-report=out/r.html",
                                "--junitxml=out/junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    run = read_report(pytester.path / "out/r.json")
    statuses = {r.test_id: r.status.value for r in run.results if r.metric == "throughput"}
    assert statuses == {"test_perf.py::test_model[alpha]": "regression",
                        "test_perf.py::test_model[beta]": "pass"}
    markdown = (pytester.path / "out/r.md").read_text()
    html = (pytester.path / "out/r.html").read_text()
    for test_id, status in statuses.items():
        row = next(line for line in markdown.splitlines() if test_id.split("::")[1] in line)
        assert status in row
        assert test_id.split("::")[1] in html
    assert html.count("<svg") >= 2
    junit = (pytester.path / "out/junit.xml").read_text()
    assert 'name="cpuperf:throughput:verdict" value="regression"' in junit


def test_xdist_loses_no_record_and_serializes(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile("""
        import pathlib
        import time

        import pytest

        LOG = pathlib.Path(__file__).with_name("spans.log")

        @pytest.mark.cpuperf
        @pytest.mark.parametrize("index", range(6))
        def test_many(cpuperf, index):
            start = time.monotonic()
            time.sleep(0.2)
            cpuperf.record("throughput", 100.0 + index, kind="throughput", unit="samples/s",
                           samples=[100.0 + index] * 3)
            with LOG.open("a") as handle:
                handle.write(f"{start} {time.monotonic()}\\n")
    """)
    result = pytester.runpytest_subprocess("--cpuperf", "--cpuperf-update", "-n", "2",
                                           "--cpuperf-report=r.json")
    result.assert_outcomes(passed=6)
    records = json.loads(_baseline_file(pytester).read_text())["records"]
    assert len(records) == 6
    assert len(read_report(pytester.path / "r.json").results) == 6
    spans = sorted(tuple(map(float, line.split()))
                   for line in (pytester.path / "spans.log").read_text().splitlines())
    overlaps = [(a, b) for a, b in itertools.pairwise(spans) if a[1] > b[0]]
    assert not overlaps, f"perf tests overlapped: {overlaps}"


@pytest.mark.slow
def test_genuinely_slower_model_is_caught(pytester: pytest.Pytester, tiny_int8_ir: Path,
                                          slower_int8_ir: Path) -> None:
    """Baseline on the 2-layer model, then the 4-layer one under the same test name."""
    pytester.makepyfile(test_real="""
        import pathlib

        import pytest

        @pytest.mark.cpuperf(trials=4, trial_time=0.4, warmup=0.2)
        def test_bert(ov_compile, cpuperf):
            model = pathlib.Path(__file__).with_name("model.txt").read_text()
            compiled = ov_compile(model)
            cpuperf.measure(compiled)
    """)
    (pytester.path / "model.txt").write_text(str(tiny_int8_ir))
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    (pytester.path / "model.txt").write_text(str(slower_int8_ir))
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", "r.json")
    verdict = next(r for r in json.loads((pytester.path / "r.json").read_text())["results"]
                   if r["metric"] == "throughput")
    if verdict["status"] == "inconclusive":
        # the contended-run rule: other work took the CPU, so no verdict either way; never a pass
        assert "other work took" in verdict["message"], verdict["message"]
        return
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*[[]regression[]] throughput of test_real.py::test_bert "
                                 "regressed*"])
