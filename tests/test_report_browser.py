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
