"""Reports that user- and test-controlled text cannot break: Markdown that renders nothing of
it (PR comments, job summaries), a Markdown report that fits a GitHub comment, one row order
in every report, figures that say what they are, and text that is not UTF-8 never crashing
the end of a session."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.results import (
    BaselineRecord,
    BaselineRun,
    MetricRecord,
    MetricResult,
    RunReport,
)
from pytest_cpuperf.report import write_reports
from pytest_cpuperf.report.html import to_html
from pytest_cpuperf.report.json_report import to_json
from pytest_cpuperf.report.markdown import to_markdown
from pytest_cpuperf.report.terminal import run_summary_lines
from pytest_cpuperf.status import Status
from pytest_cpuperf.store.fileio import atomic_write_text

MACHINE = {"key": "intel-xeon--amx--2c", "cpu": "Intel(R) Xeon(R) Processor", "cores": 2,
           "isa_class": "amx", "flags": ["amx_int8"]}
GITHUB_LIMIT = 65_536
COMMENT_LIMIT = 65_000
"""What the Markdown report stays within: a GitHub comment, less the workflow's own lines."""
SURROGATE_NAME = b"model-\xff.bin".decode("utf-8", "surrogateescape")

PAYLOADS = (
    "a\r# HEAD1 ![img1](http://x.example/p1.png)",
    "b\n## HEAD2 [link2](http://x.example/l2)",
    "c @octocat and @org/team say hi",
    "d <img src=x onerror=alert(1)> <b>bold</b> &amp; &#64;entity",
    "e **strong** *em* _under_ ~~strike~~ `code` \\*esc\\*",
    "f | pipe | breaks | cells |",
    "g [ref3]: http://x.example/r3 and [ref3] and [inline4](<http://x.example/i4>)",
    "h <http://x.example/auto5> https://x.example/bare6 www.example.com/www7 me@x.example",
    "i \x00\x07\x1b[31m\x7f\x85\u2028\u2029\u202e #12 :tada:",
    "j " + SURROGATE_NAME,
    "k \r\n---\r\n| x | y |\r\n|---|---|",
)


def _throughput(test_id: str, centre: float, unit: str = "samples/s", metric: str = "throughput",
                version: str = "2025.1.0") -> MetricRecord:
    values = [centre * f for f in (0.99, 1.01, 1.0, 0.995, 1.005, 1.0)]
    return MetricRecord(test_id, metric, "throughput", unit, centre, values,
                        versions={"openvino": version})


def _baseline(centre: float, unit: str = "samples/s", version: str = "2024.6.0") -> BaselineRecord:
    values = [centre * f for f in (1.0, 0.99, 1.01, 1.005, 0.995, 1.0)]
    return BaselineRecord("throughput", unit, True,
                          [BaselineRun(centre, values, "2025-06-01T00:00:00",
                                       {"openvino": version})])


def _latency(test_id: str, value: float, base: float) -> MetricResult:
    record = MetricRecord(test_id, "latency_p90_ms", "latency", "ms", value, [], False,
                          versions={"openvino": "2025.1.0"})
    baseline = BaselineRecord("latency", "ms", False,
                              [BaselineRun(base, [], "2025-06-01T00:00:00", {})])
    return evaluate(record, baseline, Policy())


def _hostile_run() -> RunReport:
    """Every payload in every place a report prints text a test or a user controls."""
    results = []
    for i, payload in enumerate(PAYLOADS):
        test_id = f"tests/perf/test_x.py::test_{i}[{payload}]"
        record = _throughput(test_id, 70.0, unit=f"s/s {payload}", metric=f"m{i} {payload}",
                             version=payload)
        result = evaluate(record, _baseline(100.0, unit=f"s/s {payload}"), Policy())
        result.message += f" {payload}"
        result.test_failure = f"AssertionError: {payload}"
        results.append(result)
    failed = {f"tests/perf/test_x.py::test_failed_{i}[{p}]": f"Error: {p}"
              for i, p in enumerate(PAYLOADS)}
    return RunReport(machine={**MACHINE, "cpu": f"CPU {PAYLOADS[0]}"}, results=results,
                     versions={"lib": PAYLOADS[2]}, errors=[f"error {p}" for p in PAYLOADS],
                     failed_tests=failed)


class _Elements(HTMLParser):
    """The elements of rendered Markdown, the text inside and outside <code>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.depth = 0
        self.text: list[str] = []
        self.code_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.depth += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self.depth -= tag == "code"

    def handle_data(self, data: str) -> None:
        (self.code_text if self.depth else self.text).append(data)


def _render_gfm(text: str) -> str:
    markdown_it = pytest.importorskip("markdown_it", reason="pip install markdown-it-py")
    gfm = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    return str(gfm.render(text))


def _table_rows(rendered: str) -> list[list[str]]:
    """The cells of every body row of every rendered table."""
    rows = []
    for body in re.findall(r"<tbody>(.*?)</tbody>", rendered, re.S):
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
            rows.append(re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))
    return rows


# --- A. Markdown escaping ----------------------------------------------------------------------

def test_markdown_renders_nothing_of_user_text() -> None:
    run = _hostile_run()
    text = to_markdown(run)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", text)
    rendered = _render_gfm(text)
    parsed = _Elements()
    parsed.feed(rendered)
    assert parsed.tags.count("h2") == 1 and not {"h1", "h3", "h4", "h5", "h6"} & set(parsed.tags)
    forbidden = {"a", "img", "em", "s", "del", "b", "script", "hr", "blockquote", "h1"}
    assert not forbidden & set(parsed.tags), forbidden & set(parsed.tags)
    assert parsed.tags.count("table") == 1  # the rows to act on; no table made by a payload
    rows = _table_rows(rendered)
    assert len(rows) == len(run.results) + len(run.failed_tests)
    assert all(len(row) == 7 for row in rows)  # no payload split or ended a row
    for row in rows:  # a test id stays one code span in its cell
        assert row[1].startswith("<code>") and row[1].endswith("</code>")
    plain = "".join(parsed.text)  # the parser decodes the entities
    assert not re.search(r"@[A-Za-z0-9]", plain)  # no @mention
    assert not re.search(r"(?i)https?://|www\.|#\d", plain)  # no autolink, no issue link
    readable = plain.replace("\u200b", "")
    for shown in ("![img1](http://x.example/p1.png)", "[link2](http://x.example/l2)",
                  "@octocat", "<img src=x onerror=alert(1)>", "&amp; &#64;entity",
                  "**strong** *em* _under_ ~~strike~~ `code` \\*esc\\*", "| pipe | breaks |",
                  "https://x.example/bare6", "#12 :tada:", "model-\\udcff.bin", "\\x1b[31m"):
        assert shown in readable, shown  # shown as written, nothing of it rendered
    code = "".join(parsed.code_text)
    assert "test_0[a # HEAD1 ![img1](http://x.example/p1.png)]" in code
    assert "f | pipe | breaks | cells |" in code
    strong = re.findall(r"<strong>(.*?)</strong>", rendered, re.S)
    assert all(re.fullmatch(r"[A-Za-z ]+:?", s) for s in strong), strong  # only the labels


def test_markdown_keeps_plain_names_readable() -> None:
    result = _latency("tests/perf/test_bert.py::test_dense", 12.0, 11.9)
    text = to_markdown(RunReport(dict(MACHINE), [result]))
    assert "latency_p90_ms" in text  # an underscore inside a word is no emphasis
    assert "| `test_bert.py::test_dense` |" in text


# --- B. a GitHub comment -----------------------------------------------------------------------

def _big_run(regressions: int = 300, passes: int = 200) -> RunReport:
    results = []
    for i in range(regressions):
        test_id = f"tests/perf/models/test_transformers_{i:03d}.py::test_throughput[{'x' * 40}]"
        result = evaluate(_throughput(test_id, 70.0), _baseline(100.0), Policy())
        assert result.status is Status.REGRESSION
        results.append(result)
    for i in range(passes):
        test_id = f"tests/perf/test_ok_{i:03d}.py::test_fine"
        results.append(evaluate(_throughput(test_id, 100.0), _baseline(100.0), Policy()))
    failing = _latency("tests/perf/test_failing.py::test_latency", 50.0, 12.0)
    failing.test_failure = "AssertionError: the model did not load"
    results.append(failing)
    return RunReport(dict(MACHINE), results, failed_tests={
        "tests/perf/test_failing.py::test_latency": "AssertionError: the model did not load",
        "tests/perf/test_crash.py::test_load": "RuntimeError: no model"})


def test_markdown_fits_a_github_comment_regressions_first(tmp_path: Path) -> None:
    run = _big_run()
    paths = [tmp_path / "r.md", tmp_path / "r.html", tmp_path / "r.json"]
    write_reports(paths, run)
    text = paths[0].read_text()
    assert len(text) <= COMMENT_LIMIT <= GITHUB_LIMIT - 500  # room for the workflow's lines
    rendered = _render_gfm(text)
    notice = re.search(r"(\d+) of (\d+) rows left out", text)
    assert notice, text[:2000]
    rows = _table_rows(rendered)
    total = len(run.results) + 1  # the test that failed without a metric is a row too
    assert int(notice.group(2)) == total and int(notice.group(1)) == total - len(rows)
    assert str(paths[1]) in text and str(paths[2]) in text  # where the full report is
    assert text.index("rows left out") < text.index("| verdict |")  # said before the table
    verdicts = [re.sub(r"<[^>]+>", "", row[0]) for row in rows]
    assert verdicts[:300] == [":x: regression"] * 300  # every regression kept, first
    assert "test failed" in verdicts[300] and "test failed" in verdicts[301]
    assert text.rstrip().endswith("<!-- pytest-cpuperf report -->")


def test_markdown_never_exceeds_the_limit_whatever_the_text() -> None:
    huge = "y" * 300_000
    result = evaluate(_throughput(f"t.py::test_{huge}", 70.0, unit=huge), _baseline(100.0, huge),
                      Policy())
    result.message += huge
    result.test_failure = huge
    run = RunReport({**MACHINE, "cpu": huge}, [result] * 50, versions={"lib": huge},
                    errors=[huge] * 100, failed_tests={f"t.py::{huge}{i}": huge for i in range(50)})
    text = to_markdown(run)
    assert len(text) <= COMMENT_LIMIT
    assert "100 errors" in text or "errors left out" in text
    _render_gfm(text)
    small = to_markdown(_big_run(3, 3))
    assert "left out" not in small  # nothing is shortened when it fits


# --- C. one order in every report --------------------------------------------------------------

def _ordered_run() -> RunReport:
    """A throughput regression, a failed test whose latency got worse, a test that failed
    without a metric, an improvement and a pass."""
    latency = _latency("tests/perf/test_a.py::test_latency", 50.0, 12.0)
    latency.test_failure = "AssertionError: the latency test failed"
    regression = evaluate(_throughput("tests/perf/test_z.py::test_throughput", 70.0),
                          _baseline(100.0), Policy())
    improvement = evaluate(_throughput("tests/perf/test_b.py::test_faster", 150.0),
                           _baseline(100.0), Policy())
    passing = evaluate(_throughput("tests/perf/test_c.py::test_same", 100.0), _baseline(100.0),
                       Policy())
    assert (regression.status, improvement.status) == (Status.REGRESSION, Status.IMPROVEMENT)
    return RunReport(dict(MACHINE), [passing, improvement, latency, regression], failed_tests={
        "tests/perf/test_a.py::test_latency": "AssertionError: the latency test failed",
        "tests/perf/test_0.py::test_crash": "RuntimeError: no model"})


def _positions(text: str, *needles: str) -> list[int]:
    return [text.index(n) for n in needles]


def test_regressions_first_then_failed_tests_in_every_report() -> None:
    run = _ordered_run()
    md = to_markdown(run)
    rows = [re.sub(r"<[^>]+>", "", r[1]) for r in _table_rows(_render_gfm(md))]
    assert rows[:4] == ["test_z.py::test_throughput", "test_0.py::test_crash",
                        "test_a.py::test_latency", "test_b.py::test_faster"], rows
    details = md.split("Details", 1)[1]
    assert details.index("test_z.py") < details.index("test_0.py") < details.index("test_a.py")

    terminal = "\n".join(run_summary_lines(run))
    table = terminal.split("verdict", 1)[1]
    assert _positions(table, "test_throughput", "test_latency", "test_faster") == sorted(
        _positions(table, "test_throughput", "test_latency", "test_faster"))
    after = terminal.split("test_same", 1)[1]  # the messages after the table
    assert _positions(after, "REGRESSION:", "TEST FAILED: tests/perf/test_0.py", "TEST FAILED: "
                      "tests/perf/test_a.py", "IMPROVEMENT:") == sorted(_positions(
                          after, "REGRESSION:", "TEST FAILED: tests/perf/test_0.py",
                          "TEST FAILED: tests/perf/test_a.py", "IMPROVEMENT:"))

    page = to_html(run)
    top = page.split("<dt>Verdict</dt>", 1)[0]  # what comes before the overview
    order = _positions(top, "test_z.py::test_throughput", "test_0.py::test_crash",
                       "test_a.py::test_latency", "test_b.py::test_faster")
    assert order == sorted(order), top
    cells = re.findall(r'<td class="t"[^>]*title="([^"]+)"', page)
    assert cells[:3] == ["tests/perf/test_z.py::test_throughput",
                         "tests/perf/test_a.py::test_latency", "tests/perf/test_b.py::test_faster"]


# --- F. what a change is -----------------------------------------------------------------------

def _reference_result() -> MetricResult:
    """268.0 -> 291.1 samples/s raw (+8.6%), +3.2% relative to the same-run reference."""
    record = MetricRecord("tests/perf/test_r.py::test_ref", "throughput", "throughput",
                          "samples/s", 291.1, [291.1] * 6,
                          reference={"id": "ref-model", "samples": [105.25] * 6})
    baseline = BaselineRecord("throughput", "samples/s", True, [BaselineRun(
        268.0, [268.0] * 6, "2025-06-01T00:00:00", {}, reference={"id": "ref-model",
                                                                   "samples": [100.0] * 6})])
    result = evaluate(record, baseline, Policy())
    assert result.basis == "reference" and f"{result.change:+.1%}" == "+3.2%"
    return result


def test_a_reference_relative_change_says_so_in_every_report() -> None:
    run = RunReport(dict(MACHINE), [_reference_result()])
    terminal = "\n".join(run_summary_lines(run))
    assert "+3.2% vs reference (raw +8.6%)" in terminal
    md = html.unescape(re.sub(r"<[^>]+>", "", _render_gfm(to_markdown(run))))
    assert "+3.2% vs reference (raw +8.6%)" in md
    page = html.unescape(re.sub(r"<[^>]+>", "", to_html(run)))
    assert "+3.2% vs reference (raw +8.6%)" in page
    data = json.loads(to_json(run))["results"][0]
    assert data["basis"] == "reference" and data["change_label"] == "+3.2% vs reference"
    assert data["raw_change"] == pytest.approx(291.1 / 268.0 - 1, abs=1e-4)
    assert data["change"] == pytest.approx(0.032, abs=1e-3)  # the verdict's change, unchanged


def test_a_raw_change_has_no_label() -> None:
    result = evaluate(_throughput("t.py::test_raw", 100.0), _baseline(100.0), Policy())
    assert result.basis == "raw"
    data = json.loads(to_json(RunReport(dict(MACHINE), [result])))["results"][0]
    assert "vs reference" not in data["change_label"] and "raw" not in data["change_label"]
    assert data["raw_change"] == pytest.approx(data["change"], abs=1e-6)


# --- E. text that is not UTF-8 -----------------------------------------------------------------

def test_atomic_write_text_writes_lone_surrogates_escaped(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    atomic_write_text(path, f"cannot open {SURROGATE_NAME}\n")
    assert path.read_text(encoding="utf-8") == "cannot open model-\\udcff.bin\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_reports_of_hostile_text_are_valid_files(tmp_path: Path) -> None:
    run = _hostile_run()
    paths = [tmp_path / n for n in ("r.md", "r.html", "r.json", "r.benchmark.json")]
    write_reports(paths, run)
    for path in paths:
        path.read_text(encoding="utf-8")  # valid UTF-8
    assert json.loads(paths[2].read_text())["results"]
    json.loads(paths[3].read_text())
    page = paths[1].read_text()
    assert "model-\\udcff.bin" in page and "\x1b" not in page and "\x07" not in page


FAILING_TEST = '''
import pytest

NAME = b"model-\\xff.bin".decode("utf-8", "surrogateescape")


@pytest.mark.cpuperf
def test_loads(cpuperf):
    cpuperf.record("throughput", 100.0, kind="throughput", unit="samples/s",
                   samples=[100.0, 101.0, 99.0, 100.5, 99.5], versions={"model": NAME})
    cpuperf.record("load_s", 1.5, kind="info", unit="s\x1b[31m\x07", higher_is_better=False)
    assert False, f"cannot open {NAME}"


@pytest.mark.cpuperf
def test_ok(cpuperf):
    cpuperf.record("accuracy", 0.9, kind="accuracy", versions={"model": NAME})
'''
REPORTS = ("r.md", "r.html", "r.json", "r.benchmark.json")


def _report_args() -> list[str]:
    return [arg for name in REPORTS for arg in ("--cpuperf-report", f"out/{name}")]


def _history_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        tables = [t for (t,) in conn.execute("select name from sqlite_master where type='table'")]
        runs = next(t for t in tables if "run" in t and "metric" not in t)
        return int(conn.execute(f"select count(*) from {runs}").fetchone()[0])


def test_a_failing_test_with_undecodable_text_ends_the_session_cleanly(
        pytester: pytest.Pytester) -> None:
    pytest.importorskip("sqlalchemy", reason="the history extra is not installed")
    pytester.makepyfile(test_perf=FAILING_TEST)
    db = pytester.path / "h.db"
    result = pytester.runpytest("--cpuperf", *_report_args(), "--junitxml", "out/junit.xml",
                                "--cpuperf-history", f"sqlite:///{db}")
    assert "UnicodeEncodeError" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1, passed=1)  # pytest's summary line
    out = pytester.path / "out"
    texts = {name: (out / name).read_text(encoding="utf-8") for name in REPORTS}
    assert "model-\\\\udcff.bin" in texts["r.md"]  # the backslash escaped for Markdown
    assert "model-\\udcff.bin" in texts["r.html"]
    data = json.loads(texts["r.json"])
    assert "cannot open model-\udcff.bin" in data["failed_tests"]["test_perf.py::test_loads"]
    assert not {"\x1b", "\x07"} & set(texts["r.md"] + texts["r.html"])
    json.loads(texts["r.benchmark.json"])
    props = {p.get("name"): p.get("value") for p in ET.parse(out / "junit.xml").iter("property")}
    assert props["cpuperf:load_s:unit"].startswith("s")  # valid XML, the unit still there
    assert _history_rows(db) == 1


def test_undecodable_text_in_a_baseline_never_crashes_a_later_report(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_perf=FAILING_TEST.replace("    assert False", "    # assert"))
    for _ in range(2):  # record, then record again over it
        pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=2)
        result = pytester.runpytest("--cpuperf", *_report_args())
        assert "Error" not in result.stderr.str()
        result.assert_outcomes(passed=2)
        page = (pytester.path / "out" / "r.html").read_text(encoding="utf-8")
        assert "model model-\\udcff.bin" in page
