"""Nothing passes silently: empty cpuperf tests, stored metrics a run did not produce,
cpuperf-only options without --cpuperf, failed tests under --cpuperf-update, unwritable
baseline directories, misspelled fixture keywords."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

RECORDS = """
import pytest

METRIC = {metric!r}

@pytest.mark.cpuperf
def test_perf(cpuperf):
    if METRIC:
        cpuperf.record(METRIC, 100.0, kind="throughput", unit="samples/s",
                       samples=[99.0, 100.0, 101.0])

@pytest.mark.cpuperf
@pytest.mark.parametrize("size", [{param!r}])
def test_sized(cpuperf, size):
    cpuperf.record("throughput", 50.0, kind="throughput", unit="samples/s",
                   samples=[49.0, 50.0, 51.0])
"""


def _write(pytester: pytest.Pytester, metric: str = "int8", param: str = "small") -> None:
    pytester.makepyfile(test_model=RECORDS.format(metric=metric, param=param))


def _report(pytester: pytest.Pytester, name: str = "r.json") -> dict:
    return json.loads((pytester.path / name).read_text())


def test_a_cpuperf_test_that_records_nothing_warns(pytester: pytest.Pytester) -> None:
    _write(pytester, metric="")
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", "r.json")
    result.assert_outcomes(passed=2)  # warnings: pytest may add its own
    result.stdout.fnmatch_lines(["*PytestWarning: cpuperf: test_model.py::test_perf is a "
                                 "cpuperf test but recorded no metric*"])
    assert _report(pytester)["empty_tests"] == ["test_model.py::test_perf"]


@pytest.mark.parametrize("extra", [[], ["--cpuperf-update"]])
def test_a_cpuperf_test_that_records_nothing_fails_under_strict(
        pytester: pytest.Pytester, extra: list[str]) -> None:
    _write(pytester)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    _write(pytester, metric="")
    result = pytester.runpytest("--cpuperf", "--cpuperf-strict", *extra)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*recorded no metric*[--cpuperf-strict]*"])


def test_a_deleted_measurement_is_listed_and_fails_under_strict(
        pytester: pytest.Pytester) -> None:
    _write(pytester)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    _write(pytester, metric="")  # the measure call deleted
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", "r.json",
                                "--cpuperf-report", "r.md")
    assert result.ret == 0
    unmeasured = _report(pytester)["unmeasured"]
    assert unmeasured == [{"test_id": "test_model.py::test_perf", "metric": "int8",
                           "why": "the test ran and did not record it"}]
    result.stdout.fnmatch_lines(["*not measured: test_model.py::test_perf int8*"])
    markdown = (pytester.path / "r.md").read_text()
    assert "**Not measured:** test_model.py::test_perf int8" in markdown
    assert "int8 is in the baseline file" in markdown
    strict = pytester.runpytest("--cpuperf", "--cpuperf-strict")
    assert strict.ret != 0
    strict.stdout.fnmatch_lines(["*not measured: test_model.py::test_perf int8*strict*"])


def test_a_renamed_metric_lists_the_stored_one(pytester: pytest.Pytester) -> None:
    _write(pytester, metric="int8")
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    _write(pytester, metric="int8_v2")
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", "r.json")
    assert [(u["test_id"], u["metric"]) for u in _report(pytester)["unmeasured"]] == [
        ("test_model.py::test_perf", "int8")]
    result.stdout.fnmatch_lines(["*not measured: test_model.py::test_perf int8*"])


def test_a_renamed_parametrize_id_lists_the_stale_records(pytester: pytest.Pytester) -> None:
    _write(pytester, param="small")
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    _write(pytester, param="tiny")
    pytester.runpytest("--cpuperf", "--cpuperf-report", "r.json")
    assert _report(pytester)["unmeasured"] == [{
        "test_id": "test_model.py::test_sized[small]", "metric": "throughput",
        "why": "its file has no such test any more (renamed test or parametrize id)"}]


def test_unselected_tests_are_not_listed(pytester: pytest.Pytester) -> None:
    _write(pytester)
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
    result = pytester.runpytest("--cpuperf", "--cpuperf-strict", "-k", "sized",
                                "--cpuperf-report", "r.json")
    assert result.ret == 0
    assert _report(pytester)["unmeasured"] == []


@pytest.mark.parametrize("option", [["--cpuperf-update"], ["--cpuperf-report", "perf.md"],
                                    ["--cpuperf-strict"], ["--cpuperf-tolerance", "0.05"]])
def test_cpuperf_only_options_need_cpuperf(pytester: pytest.Pytester,
                                           option: list[str]) -> None:
    _write(pytester)
    result = pytester.runpytest(*option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option[0]} only acts on cpuperf tests*add --cpuperf*"])
    assert not (pytester.path / "perf.md").exists()


def test_a_failed_test_never_sets_its_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_acc="""
        import pytest

        @pytest.mark.cpuperf
        def test_accuracy(cpuperf):
            cpuperf.record("accuracy", 0.1, kind="accuracy")
            assert False, "accuracy collapsed"
    """)
    result = pytester.runpytest("--cpuperf", "--cpuperf-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NOT stored as baseline: the metrics of "
                                 "test_acc.py::test_accuracy, which failed*"
                                 "--cpuperf-update-failed test_acc.py::test_accuracy*"])
    stored = [p for p in (pytester.path / ".cpuperf").glob("*.json")]
    assert all("test_accuracy" not in p.read_text() for p in stored)
    named = pytester.runpytest("--cpuperf", "--cpuperf-update",
                               "--cpuperf-update-failed", "test_acc.py::test_accuracy")
    named.assert_outcomes(failed=1)
    (stored,) = (pytester.path / ".cpuperf").glob("*.json")
    assert "test_acc.py::test_accuracy" in stored.read_text()


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can write, root included (``chattr +i``)."""
    directory = tmp_path / "project" / ".cpuperf"
    directory.mkdir(parents=True)
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(directory)], capture_output=True).returncode:
        pytest.skip("chattr +i is needed to make a directory that root cannot write")
    yield directory
    subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_an_unwritable_baseline_directory_stops_update_before_measuring(
        immutable_dir: Path) -> None:
    project = immutable_dir.parent
    marker = project.parent / "measured"
    (project / "test_x.py").write_text(
        "import pathlib, pytest\n\n@pytest.mark.cpuperf\ndef test_x(cpuperf):\n"
        f"    pathlib.Path({str(marker)!r}).write_text('x')\n"
        "    cpuperf.record('t', 1.0, kind='throughput', samples=[1.0, 1.0, 1.0])\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--cpuperf",
         "--cpuperf-update", "test_x.py", "--rootdir", str(project)],
        capture_output=True, text=True, cwd=project, timeout=300)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert "--cpuperf-update: cannot write baselines in" in result.stderr
    assert "--cpuperf-baseline-dir" in result.stderr
    assert not marker.exists()


def test_a_misspelled_fixture_keyword_names_the_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest
        from pytest_cpuperf.errors import CpuperfUsageError
        from pytest_cpuperf.plugin import check_keywords

        def factory(model, *, streams=None, threads=None, hint="throughput"):
            return model

        def test_typo():
            with pytest.raises(CpuperfUsageError) as info:
                check_keywords(factory, {"stream": 2}, "ov_compile")
            assert "did you mean 'streams'" in str(info.value)
            assert "streams, threads, hint" in str(info.value)
            check_keywords(factory, {"streams": 2}, "ov_compile")
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_measurement_prints_as_one_line() -> None:
    from pytest_cpuperf.records.measurement import LatencySummary, Measurement, Trial

    summary = LatencySummary.from_samples([1.0 + v / 1000 for v in range(700)])
    measurement = Measurement(label="dense", backend="openvino",
                              trials=(Trial(700, 1.0, 1), Trial(690, 1.0, 1)), latency=summary)
    text = str(measurement)
    assert text == measurement.describe()
    assert text.startswith("dense: ") and "\n" not in text and len(text) < 300


def test_ov_compile_names_the_keyword_it_takes(pytester: pytest.Pytester,
                                               tiny_int8_ir: Path) -> None:
    pytest.importorskip("openvino")
    pytester.makepyfile(f"""
        import pytest
        from pytest_cpuperf.errors import CpuperfUsageError

        def test_typo(ov_compile):
            with pytest.raises(CpuperfUsageError) as info:
                ov_compile({str(tiny_int8_ir)!r}, stream=2)
            assert "ov_compile() got an unexpected keyword 'stream'" in str(info.value)
            assert "did you mean 'streams'?" in str(info.value)
    """)
    pytester.runpytest().assert_outcomes(passed=1)
