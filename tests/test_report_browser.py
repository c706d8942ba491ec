"""The HTML report as a user sees it: a real run's report in headless Chromium.

Uses docs/screenshots.py (the script that regenerates the README's screenshots): a demo suite
runs twice under ``pytest --cpuperf`` (record, then a run where one model lost its sparse
kernels) and its HTML report is laid out at 1400 and 400 px. Skipped where Debian's
``chromium`` is not installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from types import ModuleType

import pytest

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
