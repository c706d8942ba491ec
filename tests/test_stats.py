"""The verdict statistics: the two-level noise model, significance, tolerance."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from pytest_cpuperf.stats.intervals import (
    Change,
    Status,
    pooled_within_sd,
    relative_verdict,
    throughput_change,
)
from pytest_cpuperf.stats.resolution import ruled_out

FLAT = [100.0, 100.0, 100.0]


def test_one_baseline_run_assumes_the_floor_for_both_runs() -> None:
    change = throughput_change([90.0] * 3, [FLAT], noise_floor=0.02)
    assert change.noise == pytest.approx(0.02 * math.sqrt(2))
    assert change.change == pytest.approx(-0.10)
    assert change.p_value == pytest.approx(sps.norm.sf(-math.log(0.9) / change.noise))


def test_learned_noise_uses_t_with_k_minus_1_degrees_of_freedom() -> None:
    runs = [[100.0] * 3, [110.0] * 3, [92.0] * 3]
    change = throughput_change([85.0] * 3, runs, noise_floor=0.01)
    means = [math.log(100), math.log(110), math.log(92)]
    learned = sps.tstd(means)
    assert change.noise == pytest.approx(learned * math.sqrt(1 + 1 / 3))
    delta = math.log(85) - sum(means) / 3
    assert change.p_value == pytest.approx(sps.t(2).sf(-delta / change.noise))
    assert change.p_value > sps.norm.sf(-delta / change.noise)  # more cautious than normal


def test_floor_wins_over_a_smaller_learned_noise() -> None:
    runs = [[100.0] * 3, [100.5] * 3, [99.5] * 3]
    change = throughput_change([100.0] * 3, runs, noise_floor=0.03)
    assert change.noise == pytest.approx(0.03 * math.sqrt(1 + 1 / 3))


@pytest.mark.parametrize(("current", "noise_floor", "expected"), [
    (99.0, 0.01, Status.PASS),          # within tolerance, and the CI rules out more than 5%
    (99.0, 0.02, Status.INCONCLUSIVE),  # within tolerance, but the CI reaches -6.3%
    (80.0, 0.02, Status.REGRESSION),    # beyond tolerance and significant
    (94.0, 0.02, Status.INCONCLUSIVE),  # beyond 5% but not significant at 1% with 2.8% noise
    (120.0, 0.02, Status.IMPROVEMENT),
])
def test_verdicts(current: float, noise_floor: float, expected: Status) -> None:
    change = throughput_change([current] * 3, [FLAT], noise_floor=noise_floor)
    assert relative_verdict(change, tolerance=0.05, alpha=0.01) is expected


@pytest.mark.parametrize(("low", "high", "higher_is_better", "expected"), [
    (-0.018, 0.03, True, 0.018),    # throughput: the loss its low end reaches
    (0.01, 0.04, True, 0.0),        # wholly a gain: any loss ruled out
    (-0.03, 0.018, False, 0.018),   # a time: the rise its high end reaches
    (-0.04, -0.01, False, 0.0),
])
def test_ruled_out_is_the_worst_end_in_the_bad_direction(
        low: float, high: float, higher_is_better: bool, expected: float) -> None:
    assert ruled_out(low, high, higher_is_better) == pytest.approx(expected)


def test_a_pass_needs_its_interval_to_rule_out_the_tolerance() -> None:
    """The same +-0 change passes or not by the width of its interval alone (issue #29), and
    the boundary is the tolerance itself, for either direction of "better"."""
    narrow, wide = Change(0.0, -0.049, 0.049, 1.0, 0.0), Change(0.0, -0.051, 0.051, 1.0, 0.0)
    for higher_is_better in (True, False):
        assert relative_verdict(narrow, 0.05, 0.05, higher_is_better) is Status.PASS
        assert relative_verdict(wide, 0.05, 0.05, higher_is_better) is Status.INCONCLUSIVE
    # a gain beyond tolerance that is not significant passes only if its CI rules out a loss
    unsure_gain = Change(0.08, -0.06, 0.22, 0.2, 0.0)
    assert relative_verdict(unsure_gain, 0.05, 0.05) is Status.INCONCLUSIVE
    assert relative_verdict(Change(0.08, -0.01, 0.17, 0.2, 0.0), 0.05, 0.05) is Status.PASS


def test_lower_is_better_flips_direction() -> None:
    change = throughput_change([120.0] * 3, [FLAT], noise_floor=0.02)
    assert relative_verdict(change, 0.05, 0.01, higher_is_better=False) is Status.REGRESSION


def test_p_value_follows_the_direction_of_the_change() -> None:
    up = throughput_change([120.0] * 3, [FLAT], noise_floor=0.02)
    down = throughput_change([100 / 1.2] * 3, [FLAT], noise_floor=0.02)
    assert up.p_value == pytest.approx(down.p_value) and up.p_value < 1e-6


def test_wide_within_run_spread_raises_the_between_run_noise() -> None:
    """A fast model: its trials scatter ~5%, and its runs move as much. A -9% A/A swing is
    not a regression then (with the 2% floor alone it was: p < 0.05)."""
    baseline = [100.0, 94.0, 106.0, 98.0, 102.0]
    current = [91.0, 97.0, 85.0, 93.0, 89.0]
    floor_only = throughput_change(current, [baseline], noise_floor=0.02, within_scale=0.0)
    assert relative_verdict(floor_only, 0.05, 0.05) is Status.REGRESSION
    change = throughput_change(current, [baseline], noise_floor=0.02)
    assert change.noise > floor_only.noise
    assert relative_verdict(change, 0.05, 0.05) is Status.INCONCLUSIVE
    # a real 25% loss on that model is still caught
    slower = throughput_change([v * 0.75 for v in baseline], [baseline], noise_floor=0.02)
    assert relative_verdict(slower, 0.05, 0.05) is Status.REGRESSION


def test_narrow_within_run_spread_keeps_the_floor() -> None:
    """bert-base's trials scatter 1-2%: under the floor, so its verdicts do not change."""
    baseline = [100.0, 101.5, 99.0, 100.5, 99.5]
    current = [95.0, 96.0, 94.5, 95.5, 94.0]
    assert pooled_within_sd([baseline, current]) < 0.02
    assert throughput_change(current, [baseline], noise_floor=0.02).noise == pytest.approx(
        throughput_change(current, [baseline], noise_floor=0.02, within_scale=0.0).noise)
