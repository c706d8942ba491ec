"""The busy-machine guard: other work is measured, and verdicts taken under it are not trusted."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from pytest_cpuperf.backends.base import SyncTarget
from pytest_cpuperf.measure import engine
from pytest_cpuperf.measure.busy import CpuSnapshot, foreign_share, snapshot


def test_foreign_share_arithmetic() -> None:
    before = CpuSnapshot(total=100.0, busy=10.0, steal=0.0, own=5.0)
    after = CpuSnapshot(total=110.0, busy=17.0, steal=1.0, own=9.0)
    # 7 s busy + 1 s stolen - 4 s ours = 4 s of 10 s capacity went elsewhere
    assert foreign_share(before, after) == pytest.approx(0.4)
    assert foreign_share(None, after) is None
    assert foreign_share(after, after) is None


def _burn(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_competing_processes_are_seen() -> None:
    spin = SyncTarget(call=lambda: sum(range(20000)), batch_size=1)
    quiet = engine.sync_trial(spin, 0.5, 1, None)
    burners = [multiprocessing.Process(target=_burn, args=(3.0,)) for _ in range(2)]
    for proc in burners:
        proc.start()
    try:
        time.sleep(0.3)
        loaded = engine.sync_trial(spin, 1.0, 1, None)
    finally:
        for proc in burners:
            proc.join()
    assert loaded.busy is not None and quiet.busy is not None
    assert loaded.busy >= 0.3, f"two busy-looping processes took only {loaded.busy:.0%}"
    assert loaded.busy > quiet.busy
    assert snapshot() is not None


def test_regression_on_a_busy_machine_is_inconclusive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import json, pathlib
        import pytest

        @pytest.mark.cpuperf
        def test_model(cpuperf):
            fig = json.loads(pathlib.Path(__file__).with_name("fig.json").read_text())
            cpuperf.record("throughput", fig["samples"][0], kind="throughput",
                           unit="samples/s", samples=fig["samples"], busy=fig["busy"])
    """)
    fig = pytester.path / "fig.json"
    fig.write_text('{"samples": [100.0, 101.0, 99.0], "busy": 0.01}')
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    fig.write_text('{"samples": [60.0, 61.0, 59.0], "busy": 0.45}')
    busy = pytester.runpytest("--cpuperf")
    busy.assert_outcomes(passed=1)
    busy.stdout.fnmatch_lines(["*inconclusive*", "*other work took 45% of the CPU during this "
                               "run (limit 15%, --cpuperf-max-busy)*Re-run on a quiet machine*"])
    strict_limit = pytester.runpytest("--cpuperf", "--cpuperf-max-busy=0.5")
    strict_limit.assert_outcomes(failed=1)
    # other work taking 45% can explain a 40% loss, not an 80% one: that still fails
    fig.write_text('{"samples": [20.0, 20.2, 19.8], "busy": 0.45}')
    beyond = pytester.runpytest("--cpuperf")
    beyond.assert_outcomes(failed=1)
    beyond.stdout.fnmatch_lines(["*[[]regression[]] throughput of*regressed*"])



def test_correction_is_applied_and_said(pytester: pytest.Pytester) -> None:
    """A run slowed by other work, corrected back: passes, and the output says why."""
    pytester.makepyfile("""
        import json, pathlib
        import pytest

        @pytest.mark.cpuperf
        def test_model(cpuperf):
            fig = json.loads(pathlib.Path(__file__).with_name("fig.json").read_text())
            cpuperf.record("throughput", fig["samples"][0], kind="throughput",
                           unit="samples/s", samples=fig["samples"], busy=fig["busy"],
                           contention=fig["contention"])
    """)
    fig = pytester.path / "fig.json"
    fig.write_text('{"samples": [100.0, 101.0, 99.0], "busy": 0.0, "contention": [1, 1, 1]}')
    pytester.runpytest("--cpuperf", "--cpuperf-update").assert_outcomes(passed=1)
    # 12% slower, but the kernel saw other work take the CPU our threads waited for
    fig.write_text('{"samples": [88.0, 88.9, 87.1], "busy": 0.12, '
                   '"contention": [1.136, 1.136, 1.136]}')
    result = pytester.runpytest("--cpuperf", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*throughput*88.0 samples/s*pass*",
                                 "note: 1 change(s) corrected for CPU time other processes*"])
    # without the correction the same figures are a regression
    fig.write_text('{"samples": [88.0, 88.9, 87.1], "busy": 0.12, "contention": []}')
    pytester.runpytest("--cpuperf").assert_outcomes(failed=1)
