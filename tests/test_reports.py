"""Reports written from real evaluated results: terminal, JSON, Markdown, HTML, pytest-benchmark."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from pytest_cpuperf.errors import BaselineFileError, CpuperfUsageError
from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.results import (
    REPORT_SCHEMA,
    BaselineRecord,
    BaselineRun,
    MetricRecord,
    MetricResult,
    RunReport,
)
from pytest_cpuperf.report import REPORT_FORMATS, check_report_path, write_report
from pytest_cpuperf.report import html as html_report
from pytest_cpuperf.report.benchmark_json import (
    _fallback_stats,
    to_pytest_benchmark,
    write_pytest_benchmark,
)
from pytest_cpuperf.report.html import chart, to_html
from pytest_cpuperf.report.json_report import read_report, to_json
from pytest_cpuperf.report.markdown import to_markdown
from pytest_cpuperf.report.terminal import run_summary_lines, shorten, summary_lines
from pytest_cpuperf.stats.intervals import Status

MACHINE = {"key": "intel-xeon--amx--2c", "cpu": "Intel(R) Xeon(R) Processor", "cores": 2,
           "isa_class": "amx", "flags": ["amx_int8", "avx512f"]}
VERSIONS = {"openvino": "2025.1.0", "nncf": "2.16.0"}


def samples(centre: float, n: int = 8, cv: float = 0.02, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in centre * np.exp(rng.normal(0.0, cv, n))]


def throughput(test_id: str, centre: float, seed: int = 1) -> MetricRecord:
    values = samples(centre, seed=seed)
    return MetricRecord(test_id, "throughput", "throughput", "samples/s",
                        statistics.median(values), values, versions=dict(VERSIONS))


def throughput_baseline(centre: float, runs: int = 3) -> BaselineRecord:
    recorded = [samples(centre, seed=100 + i) for i in range(runs)]
    return BaselineRecord("throughput", "samples/s", True,
                          [BaselineRun(statistics.median(s), s, f"2025-06-0{i + 1}T00:00:00",
                                       {"openvino": "2024.6.0"})
                           for i, s in enumerate(recorded)])


def scalar(test_id: str, metric: str, kind: str, value: float, unit: str = "",
           higher_is_better: bool = True) -> MetricRecord:
    return MetricRecord(test_id, metric, kind, unit, value, [], higher_is_better,
                        versions=dict(VERSIONS))


def scalar_baseline(record: MetricRecord, value: float) -> BaselineRecord:
    return BaselineRecord(record.kind, record.unit, record.higher_is_better,
                          [BaselineRun(value, [], "2025-06-01T00:00:00", dict(VERSIONS))])


def build_run(with_failures: bool = True) -> RunReport:
    """A session's results: passes, an improvement, an inconclusive, failures, no baseline."""
    policy = Policy()
    mod = "tests/perf/test_bert.py::"
    results = [
        evaluate(throughput(mod + "test_dense", 101.0), throughput_baseline(100.0), policy),
        evaluate(throughput(mod + "test_sparse", 140.0, seed=2), throughput_baseline(105.0),
                 policy),
        evaluate(throughput(mod + "test_int8", 92.0, seed=3), throughput_baseline(100.0, 1),
                 Policy(noise_floor=0.06)),
        evaluate(throughput(mod + "test_new", 50.0, seed=4), None, policy),
    ]
    accuracy = scalar(mod + "test_dense", "accuracy", "accuracy", 0.912)
    latency = scalar(mod + "test_dense", "latency_p90", "latency", 12.3, "ms", False)
    results += [evaluate(accuracy, scalar_baseline(accuracy, 0.913), policy),
                evaluate(latency, scalar_baseline(latency, 11.9), policy)]
    if with_failures:
        slow = throughput(mod + "test_slow[batch=8|seq=<64>]", 70.0, seed=5)
        dropped = scalar(mod + "test_sparse", "accuracy", "accuracy", 0.890)
        results += [evaluate(slow, throughput_baseline(100.0), policy),
                    evaluate(dropped, scalar_baseline(dropped, 0.913), policy),
                    evaluate(throughput(mod + "test_floor", 90.0, seed=6), None,
                             Policy(floor=120.0))]
    return RunReport(machine=dict(MACHINE), results=results, versions=dict(VERSIONS))


@pytest.fixture(scope="module")
def run() -> RunReport:
    report = build_run()
    statuses = {r.status for r in report.results}
    assert statuses >= {Status.PASS, Status.IMPROVEMENT, Status.INCONCLUSIVE, Status.REGRESSION,
                        Status.NO_BASELINE, Status.BELOW_FLOOR}, statuses
    return report


# --- terminal --------------------------------------------------------------------------------

def test_summary_lines_table_counts_and_messages(run: RunReport) -> None:
    lines = summary_lines(run.results)
    assert lines[0].startswith("cpuperf: ") and "2 regression" in lines[0]
    header = lines[1].split()
    assert header == ["test", "metric", "baseline", "current", "change", "90%", "CI", "verdict"]
    rows = lines[3:3 + len(run.results)]
    assert len(rows) == len(run.results)
    verdicts = [r.rsplit("  ", 1)[-1].strip() for r in rows]
    statuses = [v.split(", ")[0] for v in verdicts]
    assert statuses[:3] == ["regression", "regression", "below floor"]  # failures first
    assert statuses[-1] == "pass" and statuses.index("inconclusive") < statuses.index("pass")
    # what each interval could see: a pass rules out a loss, an inconclusive names its reach
    assert re.fullmatch(r"pass, rules out >\d+\.\d%", verdicts[-1])
    assert re.fullmatch(r"inconclusive, up to \d+\.\d%", verdicts[statuses.index("inconclusive")])
    slow = next(r for r in rows if "test_slow" in r)
    assert re.search(r"-\d+\.\d%", slow) and slow.endswith("regression")
    assert "tests/perf" not in slow  # the shared module path is dropped
    acc = next(r for r in rows if "test_sparse" in r and "accuracy" in r)
    assert re.search(r"-0\.0230\b", acc)
    new = next(r for r in rows if "test_new" in r)
    assert re.search(r"throughput\s+-\s+\d+\.\d samples/s\s+-\s+-\s+no baseline$", new)
    messages = lines[3 + len(run.results):-1]
    assert {m.split(":")[0] for m in messages} == {"REGRESSION", "BELOW FLOOR", "INCONCLUSIVE",
                                                    "IMPROVEMENT"}
    assert messages[0].startswith(("REGRESSION", "BELOW FLOOR"))
    assert not any("test_dense" in m for m in messages)
    assert lines[-1] == lines[0]  # the counts again where a terminal ends


def test_severity_order_is_shared_by_every_format(run: RunReport) -> None:
    from pytest_cpuperf.report.conventions import SEVERITY, by_severity

    assert set(SEVERITY) == set(Status)
    assert SEVERITY.index(Status.REGRESSION) < SEVERITY.index(Status.OTHER_MACHINE) \
        < SEVERITY.index(Status.INCONCLUSIVE) < SEVERITY.index(Status.IMPROVEMENT) \
        < SEVERITY.index(Status.PASS)
    ordered = by_severity(list(reversed(run.results)))
    ranks = [SEVERITY.index(r.status) for r in ordered]
    assert ranks == sorted(ranks)
    md_rows = [r for r in _md_rows(to_markdown(run)) if r[0] != "verdict"]
    assert [r[0].split(" ", 1)[1].split(", ")[0] for r in md_rows] == [
        r.status.value for r in ordered]
    checker = Checker()
    checker.feed(to_html(run))
    html_ids = [a["title"] for t, a in checker.tags if t == "td" and a.get("class") == "t"]
    assert html_ids == [r.test_id for r in ordered]


def test_short_ids_keep_what_distinguishes() -> None:
    from pytest_cpuperf.report.conventions import short_ids

    same_module = short_ids(["tests/perf/test_a.py::test_x", "tests/perf/test_a.py::test_y[2]"])
    assert same_module == {"tests/perf/test_a.py::test_x": "test_a.py::test_x",
                           "tests/perf/test_a.py::test_y[2]": "test_a.py::test_y[2]"}
    two = short_ids(["tests/perf/a/test_m.py::t", "tests/perf/b/test_m.py::t"])
    assert set(two.values()) == {"a/test_m.py::t", "b/test_m.py::t"}
    assert short_ids(["test_m.py::t", "other.py::t"]) == {"test_m.py::t": "test_m.py::t",
                                                          "other.py::t": "other.py::t"}


def test_shorten_keeps_the_end() -> None:
    long_id = "tests/very/deep/package/test_module.py::TestClass::test_case[" + "x" * 60 + "]"
    short = shorten(long_id, 48)
    assert len(short) == 48 and short.startswith("...") and short.endswith("x]")
    assert shorten("a/b/test_m.py::test_f[p]", 20) == "test_m.py::test_f[p]"
    assert shorten("test_m.py::t", 48) == "test_m.py::t"


def test_summary_lines_empty() -> None:
    assert summary_lines([]) == ["cpuperf: no metrics recorded"]


# --- JSON ------------------------------------------------------------------------------------

def test_json_round_trip(run: RunReport, tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    write_report(path, run)
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temporary left over
    back = read_report(path)
    assert back.machine == run.machine and back.versions == run.versions
    by_key = {(r.test_id, r.metric): r for r in back.results}
    for result in run.results:
        other = by_key[(result.test_id, result.metric)]
        assert other.status is result.status and other.message == result.message
        assert other.record.samples == pytest.approx(result.record.samples, rel=1e-5)
        if result.change is not None:
            assert other.change == pytest.approx(result.change, rel=1e-5)
    assert to_json(back) == to_json(read_report(path))  # stable text
    keys = [(r["test_id"], r["metric"]) for r in json.loads(path.read_text())["results"]]
    assert keys == sorted(keys)


@pytest.mark.parametrize(("text", "needle"), [
    ("{not json", "could not be read as JSON"),
    ('{"schema": "something-else", "results": []}', "not a pytest-cpuperf report"),
    (json.dumps({"schema": REPORT_SCHEMA, "schema_version": 99, "results": []}), "newer"),
])
def test_read_report_rejects_bad_files(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(BaselineFileError, match=needle) as info:
        read_report(path)
    assert str(path) in str(info.value)


def test_check_report_path() -> None:
    assert {".json", ".md", ".html"} == REPORT_FORMATS
    assert check_report_path("out/r.html") == Path("out/r.html")
    with pytest.raises(CpuperfUsageError) as info:
        check_report_path("report.txt")
    message = str(info.value)
    assert "--cpuperf-report" in message and all(ext in message for ext in REPORT_FORMATS)


def test_registry_finds_each_renderer_by_name_and_ending(run: RunReport, tmp_path: Path) -> None:
    from pytest_cpuperf.report import RENDERERS, renderer_for, write_reports

    assert renderer_for("out/x.benchmark.json").name == "pytest-benchmark"
    assert renderer_for("out/X.JSON").name == "json"
    assert renderer_for("r.md").name == "markdown" and renderer_for("r.html").name == "html"
    assert renderer_for("anything", name="pytest-benchmark").name == "pytest-benchmark"
    with pytest.raises(CpuperfUsageError, match="one of pytest-benchmark, markdown, html, json"):
        renderer_for("x.json", name="csv")
    paths = [tmp_path / "a.md", tmp_path / "a.html", tmp_path / "a.json",
             tmp_path / "0001_a.benchmark.json"]
    assert write_reports(paths, run) == paths
    assert json.loads(paths[3].read_text())["benchmarks"]  # pytest-benchmark's format
    assert json.loads(paths[2].read_text())["schema"] == REPORT_SCHEMA
    assert {r.name for r in RENDERERS} == {"pytest-benchmark", "markdown", "html", "json"}
    later = tmp_path / "late.md"
    with pytest.raises(CpuperfUsageError, match=r"\.benchmark\.json"):
        write_reports([later, tmp_path / "x.txt"], run)
    assert not later.exists()  # every path is checked before anything is written


def test_json_report_names_its_confidence_level(run: RunReport) -> None:
    data = json.loads(to_json(run))
    assert data["confidence"] == pytest.approx(0.9) and data["ci_label"] == "90% CI"
    assert any("90% CI" in r["message"] for r in data["results"])  # the verdict's own words


# --- Markdown --------------------------------------------------------------------------------

def _md_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in rows]


def test_markdown(run: RunReport, tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    write_report(path, run)
    text = path.read_text()
    assert text.splitlines()[0] == "## :x: cpuperf: 2 regressions, 1 below floor"
    assert "Intel(R) Xeon(R) Processor" in text and "openvino 2025.1.0" in text
    rows = _md_rows(text)
    header = ["verdict", "test", "metric", "change", "90% CI", "baseline", "current"]
    assert rows[0] == header and rows.count(header) == 2  # to act on, then the unchanged
    assert len(rows) == 2 + len(run.results) and all(len(r) == 7 for r in rows)
    assert rows[1][0] == ":x: regression" and rows[3][0] == ":x: below floor"
    slow = next(r for r in rows if "test_slow" in r[1])
    assert "seq=<64>" in slow[1] and "tests/perf" not in slow[1]
    loud, quiet = text.split("unchanged rows (pass, no baseline)</summary>", 1)
    assert ":white_check_mark: pass" not in loud and ":white_check_mark: pass" in quiet
    details = text.split("<summary>Details</summary>", 1)[1]
    assert "`tests/perf/test_bert.py::test_slow[batch=8\\|seq=<64>]`" in details  # full id
    assert "test_dense regressed" not in details
    assert "90% confidence interval" in text


def test_markdown_through_a_gfm_renderer_puts_failing_rows_first(run: RunReport) -> None:
    markdown_it = pytest.importorskip("markdown_it", reason="pip install markdown-it-py")
    gfm = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    rendered = gfm.render(to_markdown(run))
    checker = Checker()
    checker.feed(rendered)
    tables = rendered.split("<table>")[1:]
    assert len(tables) == 2
    first_rows = re.findall(r"<tr>\s*<td>(.*?)</td>", tables[0])
    assert first_rows[:3] == [":x: regression", ":x: regression", ":x: below floor"]
    assert all("pass" not in row for row in first_rows)
    heads = re.findall(r"<th[^>]*>(.*?)</th>", tables[0])
    assert heads[0] == "verdict" and "90% CI" in heads
    before_table = rendered.split("<table>", 1)[0]
    assert "2 regressions, 1 below floor" in before_table and "Machine" not in before_table
    assert rendered.index("<details>") > rendered.index(tables[0][:40])  # unchanged rows last
    assert "<script" not in rendered and "seq=&lt;64&gt;" in rendered


def test_markdown_all_pass() -> None:
    text = to_markdown(build_run(with_failures=False))
    assert text.startswith("## :warning: cpuperf: no regression, 1 inconclusive")
    passing = RunReport(dict(MACHINE), [r for r in build_run(False).results
                                        if r.status is Status.PASS])
    assert to_markdown(passing).startswith("## :white_check_mark: cpuperf: no regression")


# --- HTML ------------------------------------------------------------------------------------

class Checker(HTMLParser):
    """Checks nesting and collects tags, attributes and text."""

    VOID: ClassVar[frozenset[str]] = frozenset({"meta", "br", "img", "hr", "input", "link"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert not checker.errors and not checker.stack
    return checker


def test_html(run: RunReport, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_report(path, run)
    text = path.read_text()
    checker = _parse(text)
    names = [t for t, _ in checker.tags]
    assert names.count("svg") == len(run.results)
    assert names.count("tr") == len(run.results) + 2  # a header row per table
    assert "script" not in names and "link" not in names and "img" not in names
    assert not re.search(r"(https?:)?//[a-z]", text, re.IGNORECASE)  # nothing external
    for _, attrs in checker.tags:
        for name in ("href", "src"):
            assert attrs.get(name) is None or str(attrs[name]).startswith("#")
    all_text = "".join(checker.text)
    assert "test_slow[batch=8|seq=<64>]" in all_text  # escaped in source, intact when parsed
    assert "<64>" not in text
    assert len(text) < 200_000
    assert "max-width:72em" not in text and "@media (max-width:720px)" in text
    verdict = all_text.index("2 regressions, 1 below floor")
    assert verdict < all_text.index("Machine") < all_text.index("Results to look at")
    assert all_text.index("test_slow") < all_text.index("Machine")  # failures summarised first
    assert "90% CI" in all_text and "95% CI" in all_text  # each interval says its level


def _one(metric: str, test: str) -> MetricResult:
    return next(r for r in build_run().results if r.test_id.endswith(test) and r.metric == metric)


def test_html_throughput_chart_has_every_sample() -> None:
    result = _one("throughput", "test_dense")
    assert result.baseline is not None
    checker = _parse(to_html(RunReport(dict(MACHINE), [result])))
    circles = [a for t, a in checker.tags if t == "circle"]
    expected = len(result.record.samples) + sum(len(r.samples) for r in result.baseline.runs)
    assert len(circles) == expected + 1  # plus the change-CI marker
    assert any(t == "rect" and a.get("fill") == "#1a7f37" for t, a in checker.tags)  # band


def test_html_labels_runs_with_time_and_versions_and_names_the_ci() -> None:
    result = _one("throughput", "test_slow[batch=8|seq=<64>]")
    assert result.baseline is not None
    result.baseline.runs[0].date = "2025-06-01T14:02:33+00:00"
    text = "".join(_parse(chart(result, 0.9)).text)
    assert "base 1 · 06-01 14:02" in text and "base 2 · 06-02 00:00" in text
    assert "2025-06-01T14:02:33+00:00, openvino 2024.6.0" in text  # hover: date and versions
    assert "change 90% CI" in text and "(corr.)" not in text
    result.record.contention = [1.2] * len(result.record.samples)
    result.basis = "corrected"  # what evaluate says when the correction decided
    assert result.corrected and "change 90% CI (corr.)" in "".join(_parse(chart(result)).text)


def _fill_of_current(svg: str) -> str:
    checker = _parse(svg)
    rects = [a for t, a in checker.tags if t == "rect" and a.get("width") == "10"]
    return str(rects[-1]["fill"])


def test_html_latency_that_got_worse_is_not_drawn_as_a_pass() -> None:
    latency = scalar("t.py::test_l", "latency_p90_ms", "latency", 50.0, "ms", False)
    result = evaluate(latency, scalar_baseline(latency, 12.3), Policy())
    assert result.status is Status.PASS and result.change is not None and result.change > 3
    assert _fill_of_current(chart(result)) not in (html_report.COLOURS["pass"],)
    assert "worse, not gated" in to_html(RunReport(dict(MACHINE), [result]))
    passing = _one("throughput", "test_dense")
    md = to_markdown(RunReport(dict(MACHINE), [passing, result]))
    rows = _md_rows(md.split("<details>", 1)[0])  # not among the unchanged rows
    assert rows[1][0] == ":warning: pass, worse (not gated)" and rows[1][2] == "latency_p90_ms"
    faster = evaluate(latency, scalar_baseline(latency, 80.0), Policy())
    assert _fill_of_current(chart(faster)) == html_report.COLOURS["improvement"]


def test_html_accuracy_axis_shows_a_half_point_tolerance() -> None:
    result = _one("accuracy", "test_sparse")  # 0.890 against 0.913, tolerance 0.005
    checker = _parse(chart(result))
    ticks = [float(t) for t in checker.text if re.fullmatch(r"0\.\d+", t.strip())]
    assert ticks and min(ticks) > 0.8  # the axis is not drawn from zero
    band = next(a for t, a in checker.tags if t == "rect" and a.get("fill") == "#1a7f37")
    assert float(str(band["width"])) > 20  # a visible band, not a hairline


def test_html_shows_kernels_config_versions_and_what_changed() -> None:
    kernels = {"exec_types": {"brgemm_avx512_amx_sparse_I8": 55}, "matmul_layers": 56,
               "sparse_layers": 55, "amx_layers": 56, "dominant_isa": "avx512_amx"}
    config = {"NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "THROUGHPUT",
              "INFERENCE_PRECISION_HINT": "f32"}
    record = throughput("t.py::test_k", 100.0)
    record.kernels, record.config = kernels, config
    baseline = throughput_baseline(100.0)
    baseline.config = {**config, "NUM_STREAMS": 4}
    baseline.runs[-1].kernels = {**kernels, "sparse_layers": 0}
    result = evaluate(record, baseline, Policy())
    text = "".join(_parse(to_html(RunReport(dict(MACHINE), [result]))).text)
    assert "55/56 FC sparse, 56 AMX, ISA avx512_amx" in text
    assert "NUM_STREAMS 2, INFERENCE_NUM_THREADS 2, INFERENCE_PRECISION_HINT f32" in text
    assert "versions: openvino 2024.6.0 → 2025.1.0" in text
    assert "config: NUM_STREAMS 4 → 2" in text and "kernels: sparse_layers 0 → 55" in text
    assert "nncf - → 2.16.0" in text
    assert "amx_int8, avx512f" in text  # the machine's flags
    assert "changed since the baseline" in to_markdown(RunReport(dict(MACHINE), [result]))


def test_baseline_run_keeps_its_kernels(tmp_path: Path) -> None:
    record = throughput("t.py::test_k", 100.0)
    record.kernels = {"sparse_layers": 3, "matmul_layers": 4}
    stored = BaselineRecord.from_record(record)
    back = BaselineRecord.from_dict(json.loads(json.dumps(stored.to_dict())))
    assert back.latest.kernels == record.kernels
    record.kernels = None
    assert "kernels" not in BaselineRecord.from_record(record).to_dict()["runs"][0]


def test_a_failed_test_is_rendered_beside_its_metric(run: RunReport) -> None:
    result = _one("throughput", "test_dense")
    assert result.status is Status.PASS
    result.test_failure = "AssertionError: assert sparse.kernels().sparse\nmore"
    report = RunReport(dict(MACHINE), [*build_run().results, result])
    md = to_markdown(report)
    assert "1 failed test" in md.splitlines()[0]
    rows = _md_rows(md)
    assert [r[0] for r in rows[1:4]] == [":x: regression", ":x: regression", ":x: below floor"]
    # after the failed gates, before the rest
    assert re.fullmatch(r":x: pass, rules out &gt;\d+\.\d% \+ test failed", rows[4][0])
    assert rows[4][1] == "`test_bert.py::test_dense`"
    assert "**test failed:** AssertionError: assert sparse.kernels().sparse" in md
    text = "".join(_parse(to_html(report)).text)
    assert text.index("test failed") < text.index("Machine")
    assert "AssertionError: assert sparse.kernels().sparse\nmore" in text
    lines = summary_lines(report.results)
    assert lines[0].startswith("cpuperf: 1 with a failed test")
    assert any(line.startswith("TEST FAILED: tests/perf/test_bert.py::test_dense: Assert")
               for line in lines)


def test_a_test_that_failed_before_recording_is_shown_first(run: RunReport) -> None:
    report = build_run(with_failures=False)
    report.failed_tests = {
        "tests/perf/test_bert.py::test_sparse_kernels": "AssertionError: sparse kernels did "
                                                        "not run\nassert 0 > 0",
        "tests/perf/test_bert.py::test_dense": "already has rows: shown beside them"}
    md = to_markdown(report)
    assert md.splitlines()[0] == "## :x: cpuperf: 1 failed test"
    first = _md_rows(md)[1]  # no gate failed: the failed test leads the rows
    assert first == [":x: test failed", "`test_bert.py::test_sparse_kernels`", *["-"] * 5]
    assert ("- :x: **test failed:** `tests/perf/test_bert.py::test_sparse_kernels`: "
            "AssertionError: sparse kernels did not run\n") in md
    text = "".join(_parse(to_html(report)).text)
    assert text.index("test_sparse_kernels") < text.index("Machine")
    assert "assert 0 > 0" in text
    lines = run_summary_lines(report)
    assert lines[0].startswith("cpuperf: 1 failed test without metrics, ")
    messages = lines[3 + len(report.results):]  # after the table
    assert messages[0].startswith("TEST FAILED: tests/perf/test_bert.py::test_sparse_kernels: ")
    assert not any("already has rows" in line for line in lines)


def test_a_ci_of_another_level_says_its_own(run: RunReport) -> None:
    results = [r for r in build_run().results if r.ci is not None and r.ci[0] != r.ci[1]]
    for r in results:
        r.ci_level = 0.9
    results[0].ci_level = 0.8
    report = RunReport(dict(MACHINE), results)
    rows = _md_rows(to_markdown(report))
    assert rows[0][4] == "90% CI"
    assert sum(row[4].endswith("(80%)") for row in rows) == 1
    report.results = results[:1]
    assert _md_rows(to_markdown(report))[0][4] == "80% CI"  # the level the results recorded


# --- pytest-benchmark JSON -------------------------------------------------------------------

def test_pytest_benchmark_json_is_read_by_pytest_benchmark(
        run: RunReport, tmp_path: Path, console_script: Callable[[str], str]) -> None:
    path = tmp_path / "0001_cpuperf.json"
    write_pytest_benchmark(path, run)
    data = json.loads(path.read_text())
    assert set(data) >= {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    names = {b["fullname"] for b in data["benchmarks"]}
    throughput_ids = {f"{r.test_id}::{r.metric}" for r in run.results
                      if r.record.kind == "throughput"}
    assert names == throughput_ids
    proc = subprocess.run([console_script("pytest-benchmark"), "compare", str(path)],
                          cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Failed to load" not in proc.stdout + proc.stderr
    assert "test_dense::throughput" in proc.stdout and "test_sparse::throughput" in proc.stdout


def test_pytest_benchmark_stats_are_seconds_per_sample(run: RunReport) -> None:
    data = to_pytest_benchmark(run)
    bench = next(b for b in data["benchmarks"] if b["fullname"].endswith("test_dense::throughput"))
    result = next(r for r in run.results if r.test_id.endswith("test_dense")
                  and r.metric == "throughput")
    stats = bench["stats"]
    assert stats["rounds"] == len(result.record.samples)
    assert stats["data"] == pytest.approx([1 / s for s in result.record.samples])
    assert stats["ops"] == pytest.approx(statistics.harmonic_mean(result.record.samples))
    assert bench["group"] == "throughput"
    assert bench["extra_info"]["metrics"]["accuracy"]["value"] == pytest.approx(0.912)
    assert bench["extra_info"]["metrics"]["latency_p90"]["unit"] == "ms"
    info = bench["extra_info"]
    assert info["value"] == pytest.approx(result.record.value)
    assert info["value_is"] == "samples over the trials' time"
    assert "harmonic mean" in info["ops_note"]
    assert info["backend"] == "openvino"


def test_merged_shards_export_every_backend_to_pytest_benchmark(tmp_path: Path) -> None:
    """The main job's shards (OpenVINO, IPEX) merged into one pytest-benchmark file."""
    openvino = build_run(with_failures=False)
    ipex_record = throughput("examples/ipex/test_ipex.py::test_bf16", 55.0, seed=9)
    ipex_record.versions = {"torch": "2.8.0", "ipex": "2.8.0"}
    ipex = RunReport(dict(MACHINE), [evaluate(ipex_record, throughput_baseline(55.0), Policy())])
    shards = [tmp_path / "openvino.json", tmp_path / "ipex.json"]
    for path, shard in zip(shards, (openvino, ipex), strict=True):
        path.write_text(to_json(shard))
    out = tmp_path / "cpuperf.benchmark.json"
    proc = subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "merge", "-o", str(out),
                           *map(str, shards)], capture_output=True, text=True, timeout=120,
                          check=False)
    assert out.exists(), proc.stdout + proc.stderr
    benchmarks = json.loads(out.read_text())["benchmarks"]
    throughputs = [r for r in (*openvino.results, *ipex.results) if r.record.kind == "throughput"]
    assert len(benchmarks) == len(throughputs)
    assert {b["extra_info"]["backend"] for b in benchmarks} == {"openvino", "ipex"}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 9, 12])
def test_fallback_stats_match_pytest_benchmark(n: int) -> None:
    """The stats written without pytest-benchmark are the ones pytest-benchmark computes."""
    pb_stats = pytest.importorskip(
        "pytest_benchmark.stats",
        reason="pytest-benchmark is not installed: nothing to compare the fallback with")
    times = [1 / s for s in samples(100.0, n=n, cv=0.1, seed=n)] + ([0.02] if n > 4 else [])
    collected = pb_stats.Stats()
    for t in times:
        collected.update(t)
    reference = collected.as_dict()
    mine = _fallback_stats(times)
    assert set(mine) == set(reference)
    for key, value in mine.items():
        assert value == pytest.approx(reference[key]), key


def test_a_run_with_no_baseline_at_all_says_nothing_was_gated() -> None:
    """All "no baseline": the headline must not read "no regression" (a silent pass)."""
    from pytest_cpuperf.report.markdown import headline

    results = [evaluate(throughput("t.py::test_a", 100.0), None, Policy()),
               evaluate(throughput("t.py::test_b", 90.0, seed=2), None, Policy())]
    status, text = headline(results)
    assert status is Status.NO_BASELINE and text.startswith("nothing gated")
    run = RunReport(machine=dict(MACHINE), results=results)
    assert "nothing gated" in to_markdown(run) and "nothing gated" in to_html(run)
    mixed = [*results, evaluate(throughput("t.py::test_c", 100.0), throughput_baseline(100.0),
                                Policy())]
    assert headline(mixed)[1] == "no regression, 2 without a baseline"
