"""The HTML report as a user sees it: a real run's report in headless Chromium.

Uses docs/screenshots.py (the script that regenerates the README's screenshots): a demo suite
runs twice under ``pytest --cpuperf`` (record, then a run where one model lost its sparse
kernels) and its HTML report is laid out at 1400 and 400 px; so is a report built to be wide
(failed tests, long unbroken ids, units, metric names and messages). Skipped where Debian's
``chromium`` is not installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from types import ModuleType

import pytest

from pytest_cpuperf.judge.evaluate import Policy, evaluate
from pytest_cpuperf.records.results import BaselineRecord, BaselineRun, MetricRecord, RunReport
from pytest_cpuperf.report.html import to_html
from pytest_cpuperf.status import Status

SCRIPT = Path(__file__).resolve().parent.parent / "docs" / "screenshots.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cpuperf_screenshots", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


screenshots = _load_script()
pytestmark = pytest.mark.skipif(screenshots.chromium() is None,
                                reason="chromium is not installed (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    reports: dict[str, Path] = screenshots.run_demo(tmp_path_factory.mktemp("demo"))
    return reports


@pytest.mark.parametrize("width", [1400, 400])
def test_html_report_fits_the_screen_with_the_verdict_first(
        reports: dict[str, Path], tmp_path: Path, width: int) -> None:
    page = screenshots.layout(reports["html"], width, 900, tmp_path / "profile")
    assert page["clientWidth"] == width
    assert page["scrollWidth"] <= page["clientWidth"], page  # no horizontal overflow
    assert page["verdictBottom"] < page["innerHeight"]
    assert page["firstIssueBottom"] < page["innerHeight"], page  # the failure, first screen
    first = page["firstIssueText"]
    assert "regression" in first and "bert-base-seq64-int8-sparse75" in first


def _long_run() -> RunReport:
    """A report built to push the page wide: failed tests (with and without metrics), long
    unbroken test ids, units, metric names, messages, versions, config and kernels."""
    word = "x" * 160
    test_id = f"tests/perf/models/test_{word}.py::test_throughput[{word}]"
    unit = f"samples/s-{'u' * 90}"
    values = [70.0 * f for f in (0.99, 1.01, 1.0, 0.995, 1.005, 1.0)]
    record = MetricRecord(test_id, f"throughput_{word}", "throughput", unit, 70.0, values,
                          config={"NUM_STREAMS": 2, f"KEY_{word}": word}, versions={
                              "openvino": f"2025.1.0-{word}"},
                          kernels={"exec_types": {f"brgemm_{word}": 56}, "matmul_layers": 56,
                                   "sparse_layers": 0, "amx_layers": 56,
                                   "dominant_isa": f"avx512_{word}"},
                          reference={"id": f"ref-{word}", "samples": [50.0] * 6})
    baseline = BaselineRecord("throughput", unit, True, [BaselineRun(
        100.0, [100.0 * f for f in (1.0, 0.99, 1.01, 1.005, 0.995, 1.0)],
        "2025-06-01T00:00:00", {"openvino": "2024.6.0"},
        reference={"id": f"ref-{word}", "samples": [50.0] * 6})])
    regression = evaluate(record, baseline, Policy())
    regression.message += f" {word * 3}"
    latency = MetricRecord(f"tests/perf/test_{word}.py::test_latency", f"latency_p90_{word}",
                           "latency", f"ms-{'m' * 80}", 50.0, [], False)
    failed = evaluate(latency, BaselineRecord("latency", latency.unit, False, [BaselineRun(
        12.0, [], "2025-06-01T00:00:00", {})]), Policy())
    failed.test_failure = f"AssertionError: {word * 4}\n  where {word} = load('{word}')"
    return RunReport({"cpu": f"CPU {word}", "key": word, "flags": [word] * 20}, [
        regression, failed], versions={f"lib_{word}": word}, errors=[f"error {word * 2}"],
        failed_tests={f"tests/perf/test_{word}.py::test_crash[{word}]": f"RuntimeError: {word}",
                      latency.test_id: "AssertionError: failed"})


@pytest.mark.parametrize("width", [1400, 400])
def test_html_report_of_long_text_and_failed_tests_fits_the_screen(
        tmp_path: Path, width: int) -> None:
    report = _long_run()
    assert {r.status for r in report.results} == {Status.REGRESSION, Status.PASS}
    path = tmp_path / "long.html"
    path.write_text(to_html(report), encoding="utf-8")
    page = screenshots.layout(path, width, 900, tmp_path / "profile")
    assert page["clientWidth"] == width
    assert page["scrollWidth"] <= width, page  # no horizontal scroll
    assert page["verdictBottom"] < page["innerHeight"]


def test_screenshot_has_the_asked_width(reports: dict[str, Path], tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    screenshots.screenshot(reports["html"], png, 400, 600, tmp_path / "profile")
    width, height = struct.unpack(">II", png.read_bytes()[16:24])  # the PNG's IHDR chunk
    assert (width, height) == (400, 600)


def test_history_trend_picture_shows_the_seeded_changes(tmp_path: Path) -> None:
    """The README's trend picture: the real `cpuperf history report` of the seeded history,
    each known slowdown marked on its machine class, then a screenshot of it."""
    pytest.importorskip("sqlalchemy", reason="the history extra is not installed")
    html = screenshots.history_report(tmp_path)
    text = html.read_text()
    assert text.count("<svg") == 2  # one chart per metric
    assert "<td>xeon-sapphire-rapids-amx</td><td class=cp>-2" in text  # the 28% drop
    assert "<td>epyc-zen4-avx512</td><td class=cp>-" in text  # the 5% drop
    assert text.count("stroke-dasharray") == 2  # and nothing else
    png = tmp_path / "trend.png"
    screenshots.screenshot(html, png, 860, 770, tmp_path / "profile")
    assert struct.unpack(">II", png.read_bytes()[16:24]) == (860, 770)
