"""``cpuperf history`` on a real SQLite history; change points on series with known shifts."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the history extra is not installed")

from pytest_cpuperf.history import HistoryError
from pytest_cpuperf.history.context import RunContext
from pytest_cpuperf.history.store import HistoryRun, HistoryStore
from pytest_cpuperf.records.results import MetricRecord, MetricResult, RunReport
from pytest_cpuperf.status import Status

REPO = Path(__file__).resolve().parents[1]
TEST_ID = "tests/test_bert.py::test_dense"
SHIFT_AT = 60


def noisy_series(n: int, shift_at: int, shift: float, seed: int = 7) -> list[float]:
    """2% Gaussian noise around 100, scaled by (1 + shift) from ``shift_at`` on."""
    rng = random.Random(seed)
    return [100.0 * (1 + 0.02 * rng.gauss(0, 1)) * (1 + shift if i >= shift_at else 1)
            for i in range(n)]


def fill(url: str) -> None:
    """90 runs on two machine classes; on machine-a throughput drops 6% at commit c060."""
    store = HistoryStore.open(url)
    for machine, values in (("machine-a", noisy_series(90, SHIFT_AT, -0.06)),
                            ("machine-b", noisy_series(90, 10**6, 0.0, seed=3))):
        for i, value in enumerate(values):
            record = MetricRecord(TEST_ID, "throughput", "throughput", "samples/s", value,
                                  [value * 0.99, value, value * 1.01])
            report = RunReport(machine={"key": machine}, results=[
                MetricResult(record, Status.PASS, "")], created=f"2026-01-01T00:{i // 60:02d}:"
                                                                f"{i % 60:02d}+00:00")
            context = RunContext(f"{machine}-{i}", f"c{i:03d}", "main", None)
            store.append(HistoryRun.from_report(report, context, {}))
    store.close()


def cpuperf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "history", *args],
                          capture_output=True, text=True, cwd=REPO, check=False)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('history') / 'h.db'}"
    fill(url)
    return url


def test_runs_lists_and_filters(history: str) -> None:
    out = cpuperf("runs", "--history", history, "--machine", "machine-b", "--limit", "5")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count(" machine-b ") == 5 and "machine-a" not in out.stdout
    assert out.stdout.splitlines()[-1] == "5 run(s)"
    assert "c089" in out.stdout.splitlines()[-2]


def test_show_prints_a_sparkline_per_machine(history: str) -> None:
    out = cpuperf("show", f"{TEST_ID}::throughput", "--history", history)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()[:2]
    assert first.startswith("machine-a  ") and "(90 runs" in first
    assert second.startswith("machine-b  ")
    assert len(out.stdout.splitlines()) == 2 + 1 + 180


@pytest.mark.parametrize("method", ["trailing", "otava"])
def test_detect_finds_the_shift_and_its_commits(history: str, method: str) -> None:
    if method == "otava":
        pytest.importorskip("otava.analysis", reason="apache-otava is not installed")
    out = cpuperf("detect", "--history", history, "--method", method)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "1 change point(s)", out.stdout
    assert lines[0].startswith(f"{TEST_ID}::throughput  machine-a  -")
    assert f"commits c{SHIFT_AT - 1:03d}..c{SHIFT_AT:03d}" in lines[0]


def test_detect_rejects_bad_thresholds_and_names(history: str) -> None:
    out = cpuperf("detect", "--history", history, "--max-pvalue", "2")
    assert out.returncode == 2
    assert "argument --max-pvalue: must be a number in (0, 1)" in out.stderr
    out = cpuperf("detect", "--history", history, "--alpha", "0")
    assert out.returncode == 2
    assert "argument --alpha: must be a number in (0, 1), e.g. 0.001" in out.stderr
    out = cpuperf("detect", "--history", history, "--reference", "3")
    assert out.returncode == 2 and "argument --reference: must be an integer >= 10" in out.stderr
    out = cpuperf("show", "throughput", "--history", history)
    assert out.returncode == 2 and "must be TEST_ID::METRIC" in out.stderr


def fill_mirrored(url: str) -> None:
    """90 runs on one machine: test_slow gets 6% slower at commit c060 (throughput down,
    latency up), test_fast 6% faster (the mirror image: same noise, opposite shift)."""
    store = HistoryStore.open(url)
    slow, fast = noisy_series(90, SHIFT_AT, -0.06), noisy_series(90, SHIFT_AT, 0.06)
    for i in range(90):
        records = []
        for test, rate in (("test_slow", slow[i]), ("test_fast", fast[i])):
            records += [MetricRecord(f"tests/test_bert.py::{test}", "throughput", "throughput",
                                     "samples/s", rate, [rate]),
                        MetricRecord(f"tests/test_bert.py::{test}", "latency", "latency", "ms",
                                     1000 / rate, [1000 / rate], higher_is_better=False)]
        report = RunReport(machine={"key": "machine-a"}, results=[
            MetricResult(r, Status.PASS, "") for r in records],
            created=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00")
        store.append(HistoryRun.from_report(report, RunContext(f"run-{i}", f"c{i:03d}", "main",
                                                               None), {}))
    store.close()


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('mirrored') / 'h.db'}"
    fill_mirrored(url)
    return url


def _found(out: subprocess.CompletedProcess[str]) -> list[str]:
    assert out.returncode == 0, out.stderr
    return sorted(line.split("  ")[0] for line in out.stdout.splitlines()[:-1])


def test_slower_only_finds_the_slowdown_and_ignores_an_equal_speedup(mirrored: str) -> None:
    series = ["tests/test_bert.py::test_slow::throughput",
              "tests/test_bert.py::test_fast::throughput"]
    both = cpuperf("detect", *series, "--history", mirrored)
    assert _found(both) == sorted(series)  # the speed-up is there to be found
    slower = cpuperf("detect", *series, "--history", mirrored, "--direction", "slower")
    assert _found(slower) == [series[0]]
    assert f"commits c{SHIFT_AT - 1:03d}..c{SHIFT_AT:03d}" in slower.stdout
    assert " -" in slower.stdout.splitlines()[0]
    faster = cpuperf("detect", *series, "--history", mirrored, "--direction", "faster")
    assert _found(faster) == [series[1]]


def test_slower_latency_is_an_increase(mirrored: str, tmp_path: Path) -> None:
    """Latency is stored with higher_is_better false: it going up is the slowdown."""
    series = ["tests/test_bert.py::test_slow::latency", "tests/test_bert.py::test_fast::latency"]
    slower = cpuperf("detect", *series, "--history", mirrored, "--direction", "slower")
    assert _found(slower) == [series[0]]
    assert " +" in slower.stdout.splitlines()[0]
    html = tmp_path / "trend.html"
    out = cpuperf("report", str(html), *series, "--history", mirrored, "--method", "trailing",
                  "--direction", "faster")
    assert out.returncode == 0, out.stderr
    text = html.read_text()
    assert text.count("stroke-dasharray") == 1 and text.count("No change point.") == 1


def test_bad_direction_is_a_usage_error(history: str) -> None:
    for command in (["detect"], ["report", "trend.html"]):
        out = cpuperf(*command, "--history", history, "--direction", "down")
        assert out.returncode == 2
        assert "--direction" in out.stderr and "'down'" in out.stderr
        assert all(choice in out.stderr for choice in ("both", "slower", "faster"))
    from pytest_cpuperf.history.detect import Detector

    with pytest.raises(HistoryError, match="--direction must be one of both, slower, faster"):
        Detector(direction="down").check()


def test_missing_history_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    out = cpuperf("runs", "--history", f"sqlite:///{db}")
    assert out.returncode == 2
    assert "holds no pytest-cpuperf history" in out.stderr


def test_report_is_self_contained_with_change_points(history: str, tmp_path: Path) -> None:
    pytest.importorskip("otava.analysis", reason="apache-otava is not installed")
    html = tmp_path / "trend.html"
    out = cpuperf("report", str(html), "--history", history)
    assert out.returncode == 0, out.stderr
    text = html.read_text()
    assert text.count("<svg") == 1 and text.count("<polyline") == 2
    assert "stroke-dasharray" in text  # the change point is marked
    assert f"c{SHIFT_AT - 1:03d}..c{SHIFT_AT:03d}" in text
    assert "<script" not in text and "http" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_export_writes_report_json(history: str, tmp_path: Path) -> None:
    out_file = tmp_path / "run.json"
    out = cpuperf("export", str(out_file), "--history", history, "--run", "machine-a-5")
    assert out.returncode == 0, out.stderr
    data = json.loads(out_file.read_text())
    report = RunReport.from_dict(data)
    assert report.machine == {"key": "machine-a"} and len(report.results) == 1
    compare = subprocess.run([sys.executable, "-m", "pytest_cpuperf.cli", "compare",
                              str(out_file), str(out_file)], capture_output=True, text=True,
                             cwd=REPO, check=False)
    assert compare.returncode == 0, compare.stderr


@pytest.mark.parametrize("shift", [-0.10, -0.05, -0.03, 0.05])
def test_detect_finds_known_shifts_in_2_percent_noise(shift: float) -> None:
    pytest.importorskip("otava.analysis", reason="apache-otava is not installed")
    from pytest_cpuperf.history.detect import shifts

    found = shifts(noisy_series(200, 100, shift, seed=11))
    assert len(found) == 1 and abs(found[0].index - 100) <= 2  # noise may blur it by a point
    assert found[0].change == pytest.approx(shift, abs=0.01)
    assert found[0].p_value < 0.001


def test_no_change_point_in_pure_noise() -> None:
    pytest.importorskip("otava.analysis", reason="apache-otava is not installed")
    from pytest_cpuperf.history.detect import shifts

    assert shifts(noisy_series(300, 10**6, 0.0, seed=5)) == []


@pytest.mark.parametrize("shift", [-0.10, -0.05, -0.04, 0.05])
def test_trailing_test_finds_known_shifts_in_2_percent_noise(shift: float) -> None:
    from pytest_cpuperf.history.detect import trailing_shifts

    found = trailing_shifts(noisy_series(200, 100, shift, seed=11))
    assert len(found) == 1 and abs(found[0].index - 100) <= 2
    assert found[0].change == pytest.approx(shift, abs=0.015)
    assert found[0].p_value < 0.001


def test_one_direction_is_a_one_sided_test_at_the_same_alpha() -> None:
    from pytest_cpuperf.history.detect import trailing_shifts

    values = noisy_series(200, 100, -0.05, seed=11)
    both, slower = trailing_shifts(values), trailing_shifts(values, direction="slower")
    assert [s.index for s in slower] == [s.index for s in both] == [100]
    assert slower[0].p_value == pytest.approx(both[0].p_value / 2)
    assert trailing_shifts(values, direction="faster") == []
    assert trailing_shifts(values, direction="faster", higher_is_better=False) == slower


def test_trailing_test_is_online_and_quiet_in_pure_noise() -> None:
    """A re-run on more points never takes back a change point: what CI saw stays."""
    from pytest_cpuperf.history.detect import trailing_shifts

    assert trailing_shifts(noisy_series(1000, 10**6, 0.0, seed=5)) == []
    values = noisy_series(300, 100, -0.05, seed=2) + noisy_series(100, 0, -0.12, seed=4)
    full = trailing_shifts(values)
    assert [s.index for s in full] == [100, 300]
    for end in range(20, len(values), 7):
        assert trailing_shifts(values[:end]) == full[:len(trailing_shifts(values[:end]))]


def test_mixed_machines_are_refused() -> None:
    from pytest_cpuperf.history.detect import change_points
    from pytest_cpuperf.history.store import Point

    points = [Point("r1", "t", None, None, "m1", 1.0, [], "pass", ""),
              Point("r2", "t", None, None, "m2", 1.0, [], "pass", "")]
    with pytest.raises(HistoryError, match="mixes machine classes"):
        change_points(points)
