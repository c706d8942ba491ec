"""The history under hostile data, on real SQLite and a real PostgreSQL server: escape sequences
stored in it, passwords in its URL, NaN values, and identifiers of any length."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy.dialects.sqlite", reason="the history extra is not installed")

from test_history_cli import noisy_series

from pytest_cpuperf.history import HistoryError
from pytest_cpuperf.history.cli import INVALID_MARK
from pytest_cpuperf.history.context import RunContext
from pytest_cpuperf.history.store import HistoryRun, HistoryStore
from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
from pytest_cpuperf.status import Status

REPO = Path(__file__).resolve().parents[1]
TEST_ID = "tests/test_bert.py::test_dense"
SECRET = ("hunter", "Zq9xKw")
"""The two halves of a password joined by an unescaped ``@``: neither may show anywhere."""




def cpuperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "history", *args],
                          capture_output=True, text=True, cwd=REPO, check=False)


def result(value: float, *, test_id: str = TEST_ID, metric: str = "throughput",
           unit: str = "samples/s", status: Status | None = None,
           samples: list[float] | None = None) -> MetricResult:
    record = MetricRecord(test_id, metric, "throughput", unit, value,
                          [value] if samples is None else samples)
    if status is None:
        status = Status.PASS if math.isfinite(value) else Status.INVALID
    message = f"{metric} of {test_id} is invalid" if status is Status.INVALID else ""
    return MetricResult(record, status, message)


def append(store: HistoryStore, i: int, results: list[MetricResult], *,
           machine: str = "machine-a", branch: str | None = "main",
           run_id: str | None = None) -> bool:
    report = RunReport(machine={"key": machine}, results=results,
                       created=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00")
    context = RunContext(run_id or f"run-{i}", f"c{i:03d}", branch, None)
    return store.append(HistoryRun.from_report(report, context, {}))


# -- 3: what the database holds reaches the terminal escaped; a password never shows -----------

ESC_BRANCH = "\x1b]0;owned\x07feature\x1b[2J"
ESC_MACHINE = "m\x1b[31mred"
ESC_UNIT = "x\x1b[5m/s"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_stored_escape_sequences_are_printed_escaped(new_url: Callable[[str], str]) -> None:
    from sqlalchemy import update

    from pytest_cpuperf.history.schema import metrics, runs

    url = new_url("escapes")
    store = HistoryStore.open(url)
    for i, value in enumerate(noisy_series(24, 12, -0.3)):
        append(store, i, [result(value, unit=ESC_UNIT, metric="thr\x1b[8mput")],
               machine=ESC_MACHINE, branch=ESC_BRANCH, run_id=f"run\x9b{i}")
    with store.engine.begin() as conn:  # what another writer (or an attacker) could store
        conn.execute(update(metrics).values(status="pass\x1b]2;title\x07"))
        conn.execute(update(runs).values(commit="\x1b[1mc0ffee"))
    store.close()
    outputs = [cpuperf("runs", "--history", url),
               cpuperf("show", f"{TEST_ID}::thr\x1b[8mput", "--history", url),
               cpuperf("detect", "--history", url)]
    for out in outputs:
        assert out.returncode == 0, out.stderr
        assert not CONTROL.search(out.stdout + out.stderr), repr(out.stdout)
    runs_out, show_out, detect_out = (out.stdout for out in outputs)
    assert "run\\x9b0" in runs_out and "\\x1b[1mc0ff" in runs_out
    assert "\\x1b]0;owned\\x07" in runs_out and "m\\x1b[31mred" in runs_out
    assert "pass\\x1b]2;title\\x07" in show_out and "x\\x1b[5m/s" in show_out
    assert "thr\\x1b[8mput" in detect_out and detect_out.splitlines()[-1] == "1 change point(s)"


def password_url(port_url: str) -> str:
    """``port_url`` with the password ``hunter@Zq9xKw`` written without percent-encoding."""
    return port_url.replace("cpuperf@", f"cpuperf:{SECRET[0]}@{SECRET[1]}@", 1)


def assert_no_secret(text: str) -> None:
    for part in SECRET:
        assert part not in text, text


def test_password_with_an_unescaped_at_never_shows(postgres_server: Callable[[str], str],
                                                   pytester: pytest.Pytester) -> None:
    pytest.importorskip("psycopg", reason="the history extra is not installed")
    url = password_url(postgres_server("unescaped_at"))
    with pytest.raises(HistoryError) as caught:
        HistoryStore.open(url)
    message = str(caught.value)
    assert_no_secret(message)
    assert "'@'" in message and "%40" in message and "percent-encode" in message
    assert "postgresql://cpuperf:***@127.0.0.1:" in message
    out = cpuperf("runs", "--history", url)
    assert out.returncode == 2 and "%40" in out.stderr
    assert_no_secret(out.stdout + out.stderr)
    pytester.makepyfile("def test_x():\n    pass\n")
    run = pytester.runpytest("--cpuperf", "--cpuperf-history", url)
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "%40" in run.stderr.str()
    assert_no_secret(run.stdout.str() + run.stderr.str())


@pytest.mark.parametrize("url", [
    f"postgres://cpuperf:{''.join(SECRET)}@127.0.0.1/db",  # an unsupported scheme
    f"postgresql//cpuperf:{''.join(SECRET)}@127.0.0.1/db",  # not a URL at all
    f"postgresql://cpuperf@127.0.0.1:1/db?password={''.join(SECRET)}",  # in the query
    f"postgresql://cpuperf:{''.join(SECRET)}@127.0.0.1:1/db",  # refused connection
])
def test_no_message_shows_a_password(url: str) -> None:
    pytest.importorskip("psycopg", reason="the history extra is not installed")
    with pytest.raises(HistoryError) as caught:
        HistoryStore.open(url)
    assert_no_secret(str(caught.value))
    assert "***" in str(caught.value)


# -- 4: a NaN is an invalid verdict, stored without poisoning anything --------------------------

NAN_AT, SHIFT_AT, RUNS = 4, 14, 24
"""Run 5 of 24 is NaN; runs 15 to 24 are 47% faster (the audit's series)."""


def fill_with_nan(url: str, nan: bool = True) -> None:
    store = HistoryStore.open(url)
    for i, value in enumerate(noisy_series(RUNS, SHIFT_AT, 0.47)):
        value = math.nan if nan and i == NAN_AT else value
        latency = 1000 / value if math.isfinite(value) else math.inf
        append(store, i, [result(value), result(latency, metric="latency", unit="ms")])
    store.close()


def test_one_nan_does_not_blind_detection(new_url: Callable[[str], str]) -> None:
    clean, poisoned = new_url("clean"), new_url("nan")
    fill_with_nan(clean, nan=False)
    fill_with_nan(poisoned)
    series = f"{TEST_ID}::throughput"
    expected = cpuperf("detect", series, "--history", clean)
    assert expected.returncode == 0, expected.stderr
    assert expected.stdout.splitlines()[-1] == "1 change point(s)"
    out = cpuperf("detect", series, "--history", poisoned)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == ("1 change point(s); 1 invalid value(s) skipped (NaN or infinite, or "
                         "verdict invalid: see `cpuperf history show`)"), out.stdout
    assert f"commits c{SHIFT_AT - 1:03d}..c{SHIFT_AT:03d}" in lines[0]
    assert lines[0].split()[2].startswith("+4")  # +47%, as without the NaN
    both = cpuperf("detect", "--history", poisoned, "--method", "trailing")
    assert both.returncode == 0, both.stderr  # throughput up, latency down: 2 and 2 skipped
    assert both.stdout.splitlines()[-1].startswith("2 change point(s); 2 invalid value(s)")


def test_show_marks_the_invalid_run(new_url: Callable[[str], str]) -> None:
    url = new_url("show")
    fill_with_nan(url)
    out = cpuperf("show", f"{TEST_ID}::throughput", "--history", url)
    assert out.returncode == 0, out.stderr
    head, *rows = out.stdout.splitlines()
    assert "(24 runs, 1 invalid," in head
    assert head.split()[1][NAN_AT] == INVALID_MARK
    invalid = [row for row in rows if row.endswith("invalid")]
    assert len(invalid) == 1 and f"c{NAN_AT:03d}" in invalid[0] and " - " in invalid[0]


def test_nan_keeps_the_rest_of_the_run_and_is_stored_alike(new_url: Callable[[str], str],
                                                           tmp_path: Path) -> None:
    url = new_url("stored")
    store = HistoryStore.open(url)
    good = result(100.0, metric="throughput")
    # a NaN sample with a finite value; a NaN the gate had not judged invalid (other machine)
    bad_sample = result(5.0, metric="latency", unit="ms", samples=[5.0, math.nan],
                        status=Status.INVALID)
    other = result(math.nan, metric="accuracy", unit="", status=Status.OTHER_MACHINE)
    assert append(store, 0, [good, bad_sample, other])
    (run,) = store.runs()
    assert run.metrics == 3
    points = {m: store.series(TEST_ID, m)[0] for m in ("throughput", "latency", "accuracy")}
    assert (points["throughput"].value, points["throughput"].status) == (100.0, "pass")
    assert (points["latency"].value, points["latency"].status) == (5.0, "invalid")
    assert (points["accuracy"].value, points["accuracy"].status) == (None, "invalid")
    (report,) = store.run_reports(["run-0"])
    text = json.dumps(report, allow_nan=False)  # strict JSON: no NaN token anywhere
    back = {r.metric: r for r in RunReport.from_dict(json.loads(text)).results}
    assert back["throughput"].record.value == 100.0
    assert math.isnan(back["accuracy"].record.value)
    assert "NaN or infinite" in back["accuracy"].message
    store.close()
    out = cpuperf("export", str(tmp_path / "out.json"), "--history", url)
    assert out.returncode == 0, out.stderr
    json.loads((tmp_path / "out.json").read_text(), parse_constant=pytest.fail)


def test_history_baselines_leave_out_invalid_runs(new_url: Callable[[str], str]) -> None:
    url = new_url("baselines")
    store = HistoryStore.open(url)
    for i, value in enumerate([100.0, math.nan, 102.0]):
        append(store, i, [result(value)])
    records = store.baseline_records("machine-a", "main", 3)
    store.close()
    record = records[TEST_ID]["throughput"]
    assert [run.value for run in record.runs] == [100.0, 102.0]


def test_html_report_charts_around_the_invalid_run(new_url: Callable[[str], str],
                                                   tmp_path: Path) -> None:
    url = new_url("html")
    fill_with_nan(url)
    html = tmp_path / "trend.html"
    out = cpuperf("report", str(html), "--history", url, "--method", "trailing")
    assert out.returncode == 0, out.stderr
    text = html.read_text()
    assert text.count("<svg") == 2
    assert not re.search(r'(?i)[=" ,>]-?(nan|inf)\b', text)  # no coordinate or label is NaN
    assert "1 invalid value(s) skipped" in text
    assert text.count("stroke-dasharray") == 2  # throughput up, latency down: both marked


NAN_TEST = """
import math
import pytest

@pytest.mark.cpuperf
def test_perf(cpuperf):
    cpuperf.record("throughput", math.nan, kind="throughput", unit="samples/s",
                   samples=[math.nan, 100.0])
    cpuperf.record("accuracy", 0.9, kind="accuracy", unit="")
"""


def test_nan_run_through_pytest_is_recorded(pytester: pytest.Pytester,
                                            new_url: Callable[[str], str]) -> None:
    url = new_url("pytest_nan")
    pytester.makepyfile(NAN_TEST)
    run = pytester.runpytest("--cpuperf", "--cpuperf-history", url)
    run.assert_outcomes(failed=1)  # the gate fails an invalid metric
    run.stdout.fnmatch_lines(["*cpuperf: history: appended run * (2 metric(s)) to *"])
    store = HistoryStore.open(url)
    test_id = "test_nan_run_through_pytest_is_recorded.py::test_perf"
    (point,) = store.series(test_id, "throughput")
    assert (point.value, point.status) == (None, "invalid")
    assert [p.value for p in store.series(test_id, "accuracy")] == [0.9]
    store.close()


# -- 5: identifiers of any length, the same on both stores -------------------------------------

def test_long_identifiers_are_stored_on_both_stores(new_url: Callable[[str], str]) -> None:
    url = new_url("long")
    store = HistoryStore.open(url)
    cases = [("u" * 48, "m" * 250, "tests/t.py::test[" + "p" * 600 + "]", "b" * 238),
             ("µ" * 3000, "ü" * 3000, "tests/t.py::test[" + "ß" * 6000 + "]", "é" * 3000)]
    for i, (unit, metric, test_id, branch) in enumerate(cases):
        assert append(store, i, [result(1.0, unit=unit, metric=metric, test_id=test_id)],
                      branch=branch)
        (point,) = store.series(test_id, metric, branch=branch)
        assert (point.unit, point.branch) == (unit, branch)
    store.close()


def test_too_long_run_id_is_refused_alike_with_nothing_written(
        new_url: Callable[[str], str]) -> None:
    url = new_url("run_id")
    store = HistoryStore.open(url)
    with pytest.raises(HistoryError, match=r"run id is 3000 bytes long .*at most 2000\b.*"
                                           r"CPUPERF_RUN_ID"):
        append(store, 0, [result(1.0)], run_id="r" * 3000)
    with pytest.raises(HistoryError, match="machine key is 2500 bytes long"):
        append(store, 0, [result(1.0)], machine="k" * 2500)
    assert store.runs() == [] and store.series_keys() == []
    assert append(store, 0, [result(1.0)], run_id="é" * 1000)  # 2000 bytes: the limit itself
    store.close()


LONG_TEST = """
import pytest

@pytest.mark.cpuperf
@pytest.mark.parametrize("text", ["{param}"])
def test_perf(cpuperf, text):
    cpuperf.record("{metric}", 100.0, kind="throughput", unit="{unit}", samples=[99.0, 101.0])
"""


def test_long_names_through_pytest_exit_0(pytester: pytest.Pytester,
                                          new_url: Callable[[str], str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url = new_url("pytest_long")
    pytester.makepyfile(LONG_TEST.format(param="p" * 600, metric="m" * 250, unit="u" * 48))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_HEAD_REF", "feature/" + "x" * 230)
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    run = pytester.runpytest("--cpuperf", "--cpuperf-history", url)
    assert run.ret == 0, run.stdout.str()
    run.stdout.fnmatch_lines(["*cpuperf: history: appended run * (1 metric(s)) to *"])
    store = HistoryStore.open(url)
    (row,) = store.runs()
    assert row.branch == "feature/" + "x" * 230
    store.close()


def test_undecodable_text_is_stored_escaped_on_both_stores(new_url: Callable[[str], str]) -> None:
    """A surrogate-escaped file name (``os.fsdecode`` of a non-UTF-8 byte) in a unit, a metric
    and a test id: the run is stored, the text escaped, never a lost row."""
    url = new_url("undecodable")
    store = HistoryStore.open(url)
    odd = b"model-\xff.bin".decode("utf-8", "surrogateescape")
    assert append(store, 0, [result(1.0, unit=odd, metric=f"m/{odd}",
                                    test_id=f"t.py::test[{odd}]")])
    (key,) = store.series_keys()
    assert key == ("t.py::test[model-\\udcff.bin]", "m/model-\\udcff.bin")
    (point,) = store.series(*key)
    assert point.unit == "model-\\udcff.bin"
    store.close()
