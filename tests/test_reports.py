"""Reports written from real evaluated results: terminal, JSON, Markdown, HTML, pytest-benchmark."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from pytest_cpuperf.errors import BaselineFileError, CpuperfUsageError
from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.judge.results import (
    REPORT_SCHEMA,
    BaselineRecord,
    BaselineRun,
    MetricRecord,
    RunReport,
)
from pytest_cpuperf.judge.stats import Status
from pytest_cpuperf.report import REPORT_FORMATS, check_report_path, write_report
from pytest_cpuperf.report.benchmark_json import (
    _fallback_stats,
    to_pytest_benchmark,
    write_pytest_benchmark,
)
from pytest_cpuperf.report.html import to_html
from pytest_cpuperf.report.json_report import read_report, to_json
from pytest_cpuperf.report.markdown import to_markdown
from pytest_cpuperf.report.terminal import shorten, summary_lines

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
    header = lines[0].split()
    assert header == ["test", "metric", "baseline", "current", "change", "CI", "verdict"]
    rows = lines[2:2 + len(run.results)]
    assert len(rows) == len(run.results)
    slow = next(r for r in rows if "test_slow" in r)
    assert re.search(r"-\d+\.\d%", slow) and slow.endswith("regression")
    acc = next(r for r in rows if "test_sparse" in r and "accuracy" in r)
    assert re.search(r"-0\.0230\b", acc)
    new = next(r for r in rows if "test_new" in r)
    assert re.search(r"throughput\s+-\s+\d+\.\d samples/s\s+-\s+-\s+no baseline$", new)
    counts = lines[2 + len(run.results)]
    assert counts.startswith("cpuperf: ") and "2 regression" in counts and "1 below floor" in counts
    messages = lines[3 + len(run.results):]
    assert {m.split(":")[0] for m in messages} == {"REGRESSION", "BELOW FLOOR", "INCONCLUSIVE",
                                                    "IMPROVEMENT"}
    assert not any("test_dense" in m for m in messages)


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
    assert rows[0] == ["test", "metric", "baseline", "current", "change", "CI", "verdict"]
    assert len(rows) == 1 + len(run.results) and all(len(r) == 7 for r in rows)
    slow = next(r for r in rows if "test_slow" in r[0])
    assert slow[-1] == ":x: regression" and "seq=<64>" in slow[0]
    details = text.split("<summary>Details</summary>", 1)[1]
    assert "test_slow" in details and "test_dense regressed" not in details
    assert "seq=&lt;64>" in details  # inline HTML neutralised outside code


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


def test_html(run: RunReport, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_report(path, run)
    text = path.read_text()
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert not checker.errors and not checker.stack
    names = [t for t, _ in checker.tags]
    assert names.count("svg") == len(run.results)
    assert names.count("tr") == len(run.results) + 1  # header row
    assert "script" not in names and "link" not in names and "img" not in names
    assert not re.search(r"(https?:)?//[a-z]", text, re.IGNORECASE)  # nothing external
    for _, attrs in checker.tags:
        for name in ("href", "src"):
            assert attrs.get(name) is None or attrs[name].startswith("#")
    all_text = "".join(checker.text)
    assert "test_slow[batch=8|seq=<64>]" in all_text  # escaped in source, intact when parsed
    assert "<64>" not in text
    assert len(text) < 200_000


def test_html_throughput_chart_has_every_sample() -> None:
    result = next(r for r in build_run().results if r.test_id.endswith("test_dense")
                  and r.metric == "throughput")
    one = RunReport(dict(MACHINE), [result])
    checker = Checker()
    checker.feed(to_html(one))
    circles = [a for t, a in checker.tags if t == "circle"]
    expected = len(result.record.samples) + sum(len(r.samples) for r in result.baseline.runs)
    assert len(circles) == expected + 1  # plus the change-CI marker
    assert any(t == "rect" and a.get("fill") == "#2da44e" for t, a in checker.tags)  # band


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
