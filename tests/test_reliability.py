"""Issue #10: identical inputs compare equal, bad input and damaged files give clear errors,
non-finite values never pass a gate nor reach a JSON file."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from pytest_cpuperf.cli import main
from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.results import MetricRecord, RunReport
from pytest_cpuperf.report import write_report
from pytest_cpuperf.store import baselines as store

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


# --- item 5: NaN and infinity ---------------------------------------------------------------

NON_FINITE_TESTS = """
import math

import pytest


@pytest.mark.cpuperf(min_accuracy=0.8)
def test_nan_accuracy(cpuperf):
    cpuperf.record("accuracy", math.nan)


@pytest.mark.cpuperf(max_abs_diff=0.1)
def test_nan_logits(cpuperf):
    cpuperf.record("agreement/max_abs_diff", math.nan, kind="info", higher_is_better=False)


@pytest.mark.cpuperf
def test_inf_sample(cpuperf):
    cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                   samples=[100.0, math.inf, 99.0])


@pytest.mark.cpuperf(min_accuracy=0.95)
def test_below_floor(cpuperf):
    cpuperf.record("accuracy", 0.5)


@pytest.mark.cpuperf
def test_finite(cpuperf):
    cpuperf.record("accuracy", 0.9, extra={"note": math.nan})
"""


def _strict_json(path: Path) -> object:
    def reject(name: str) -> object:
        raise AssertionError(f"{path} holds {name}, which strict JSON parsers reject")

    return json.loads(path.read_text(), parse_constant=reject)


def test_non_finite_values_fail_as_invalid_and_json_stays_strict(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_values=NON_FINITE_TESTS)
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", "r.json",
                                "--cpuperf-report", "r.md", "--cpuperf-report", "r.html",
                                "--cpuperf-benchmark-json", "b.json")
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(["*[[]invalid[]] accuracy of *test_nan_accuracy is invalid*",
                                 "*3 invalid*"])
    report = _strict_json(pytester.path / "r.json")
    assert isinstance(report, dict)
    statuses = {r["test_id"].rsplit("::", 1)[1]: r["status"] for r in report["results"]}
    assert statuses == {"test_nan_accuracy": "invalid", "test_nan_logits": "invalid",
                        "test_inf_sample": "invalid", "test_finite": "no baseline",
                        "test_below_floor": "below floor"}
    _strict_json(pytester.path / "b.json")
    assert "3 invalid" in (pytester.path / "r.md").read_text()


def test_update_stores_no_invalid_value(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_values=NON_FINITE_TESTS)
    result = pytester.runpytest("--cpuperf", "--cpuperf-update")
    result.stdout.fnmatch_lines(["*NOT stored as baseline: accuracy of *test_below_floor*"])
    files = list((pytester.path / ".cpuperf").glob("*.json"))
    assert len(files) == 1
    stored = _strict_json(files[0])
    assert isinstance(stored, dict)
    assert [t.rsplit("::", 1)[1] for t in stored["records"]] == ["test_finite"]


# --- item 6: schema-valid but malformed files -----------------------------------------------

def _damage(path: Path, change: str) -> None:
    """Apply one damage to the stored baseline file (``change`` names it)."""
    data = json.loads(path.read_text())
    record = data["records"][TEST]["throughput"]
    if change == "machine":
        data["machine"] = "abc"
    elif change == "runs":
        record["runs"] = []
    elif change == "value":
        record["runs"][0]["value"] = "fast"
    elif change == "samples":
        record["runs"][0]["samples"] = [1.0, None]
    elif change == "kind":
        record["kind"] = "speed"
    elif change == "schema_version":
        data["schema_version"] = "1"
    path.write_text(json.dumps(data))


DAMAGES = {"machine": "'machine'", "runs": "'runs'", "value": "'value'",
           "samples": "'samples'", "kind": "'kind'", "schema_version": "not a version number"}


@pytest.mark.parametrize("change", DAMAGES)
def test_malformed_baseline_is_a_one_line_cli_error(tmp_path: Path, change: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "base.json"
    store.update_file(path, MACHINE, [busy_throughput()])
    _damage(path, change)
    before = path.read_bytes()
    for argv in (("compare", str(path), str(path)), ("merge", str(tmp_path / "m.json"),
                                                        str(path))):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2, (argv, out, err)
        assert len(err.strip().splitlines()) == 1 and str(path) in err, err
        assert "newer" not in err
        if change not in ("machine", "schema_version"):
            assert f"{TEST} / throughput" in err or argv[0] == "merge", err
    assert DAMAGES[change] in run_cli(capsys, "compare", str(path), str(path))[2]
    assert path.read_bytes() == before


# --- item 4: a damaged baseline, before any measurement and in every report -----------------

MEASURING_TEST = """
import pathlib

import pytest


@pytest.mark.cpuperf
def test_measures(cpuperf):
    pathlib.Path("measured").write_text("yes")
    cpuperf.record("accuracy", 0.9)
"""


def test_damaged_baseline_stops_before_measuring_and_reports_say_so(
        pytester: pytest.Pytester) -> None:
    from pytest_cpuperf.isa import detect

    pytester.makepyfile(test_perf=MEASURING_TEST)
    path = store.baseline_path(pytester.path / ".cpuperf", detect())
    path.parent.mkdir()
    content = json.dumps({"schema": store.SCHEMA, "schema_version": 1, "machine": {},
                          "records": {"test_perf.py::test_measures": {"accuracy": {
                              "kind": "accuracy", "runs": []}}}})
    path.write_text(content)
    result = pytester.runpytest("--cpuperf", "--cpuperf-report", "r.md",
                                "--cpuperf-report", "r.html", "--cpuperf-report", "r.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{path.name} is malformed*'runs'*left untouched*"])
    assert not (pytester.path / "measured").exists(), "measured before the baseline was read"
    for name in ("r.md", "r.html"):
        text = (pytester.path / name).read_text()
        assert "malformed" in text and path.name in text, name
        assert "no regression" not in text and "1 error" in text, name
    assert "malformed" in json.loads((pytester.path / "r.json").read_text())["errors"][0]
    assert path.read_text() == content


# --- item 8: OpenVINO telemetry ---------------------------------------------------------------

TELEMETRY_TEST = """
def test_telemetry():
    from openvino.tools.ovc import telemetry_utils

    print("TELEMETRY-MODULE", telemetry_utils.tm.__name__)
"""


@pytest.mark.parametrize(("opt_in", "expected"), [
    (None, "openvino.tools.ovc.telemetry_stub"),
    ("1", "openvino_telemetry"),
])
def test_openvino_telemetry_is_off_unless_chosen(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 opt_in: str | None, expected: str) -> None:
    try:  # installed? (this very process has it switched off, so not by importing it)
        importlib.metadata.version("openvino-telemetry")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("openvino-telemetry is not installed")
    monkeypatch.setenv("HOME", str(pytester.path))  # no consent file of the machine's user
    for name in ("CI", "TF_BUILD", "JENKINS_URL", "CPUPERF_OPENVINO_TELEMETRY"):
        monkeypatch.delenv(name, raising=False)
    if opt_in is not None:
        monkeypatch.setenv("CPUPERF_OPENVINO_TELEMETRY", opt_in)
    pytester.makeconftest("import openvino  # imported as early as a user's conftest can\n")
    pytester.makepyfile(test_tm=TELEMETRY_TEST)
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*TELEMETRY-MODULE {expected}"])


# --- item 7: bad input is a usage error, test ids stay text ---------------------------------

BAD_CALLS_TESTS = """
import pathlib

import pytest

from pytest_cpuperf.errors import CpuperfUsageError

IR = pathlib.Path(__file__).with_name("ir.txt").read_text()


@pytest.mark.parametrize("call", ["record_dotdot", "record_abs", "record_text", "measure_path",
                                  "measure_none", "compare_none", "unlabelled_pair"])
def test_bad(cpuperf, ov_compile, call):
    with pytest.raises(CpuperfUsageError) as info:
        if call == "record_dotdot":
            cpuperf.record("../x", 1.0)
        elif call == "record_abs":
            cpuperf.record("/etc/x", 1.0)
        elif call == "record_text":
            cpuperf.record("acc", "high")
        elif call == "measure_path":
            cpuperf.measure(IR)
        elif call == "measure_none":
            cpuperf.measure(None)
        elif call == "compare_none":
            cpuperf.compare(ov_compile(IR), None)
        else:
            compiled = ov_compile(IR)
            cpuperf.accuracy(compiled, [(compiled.example_inputs(), None)])
    print("USAGE-ERROR", call, str(info.value).splitlines()[0])
    assert not cpuperf.records
"""


def test_bad_calls_are_usage_errors(pytester: pytest.Pytester, tiny_int8_ir: Path) -> None:
    pytester.makepyfile(test_calls=BAD_CALLS_TESTS)
    (pytester.path / "ir.txt").write_text(str(tiny_int8_ir))
    result = pytester.runpytest("--cpuperf", "-s")
    result.assert_outcomes(passed=7)
    result.stdout.fnmatch_lines([
        "*USAGE-ERROR record_dotdot metric name '../x' must be names of letters*",
        "*USAGE-ERROR record_text record(): value must be numbers, got 'high'*",
        "*USAGE-ERROR measure_path cpuperf.measure() takes a compiled model*got str*",
        "*USAGE-ERROR measure_none cpuperf.measure() takes a compiled model*got NoneType*",
        "*USAGE-ERROR unlabelled_pair a dataset item is an (inputs, None) pair*",
    ], consecutive=False)


HOSTILE_ID = "a`<img src=x onerror=alert(1)>``b|c"


def test_markdown_test_id_never_becomes_html(pytester: pytest.Pytester) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    pytester.makepyfile(test_ids=f"""
        import pytest

        @pytest.mark.cpuperf
        @pytest.mark.parametrize("x", [{HOSTILE_ID!r}])
        def test_id(cpuperf, x):
            cpuperf.record("accuracy", 0.9)
    """)
    pytester.runpytest("--cpuperf", "--cpuperf-report", "r.md").assert_outcomes(passed=1)
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(
        (pytester.path / "r.md").read_text())
    assert "<img" not in rendered
    assert "&lt;img src=x onerror=alert(1)&gt;``b|c" in rendered  # the whole id, as code
