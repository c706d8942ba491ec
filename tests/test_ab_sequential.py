"""``cpuperf ab --rounds auto``: the sequential rule on made-up ratio sequences, no processes."""

from __future__ import annotations

import numpy as np

from pytest_cpuperf.ab.stopping import BUDGET, DECIDED, FIXED, REPEATED, RoundRule, Stop, with_stops
from pytest_cpuperf.ab.verdict import AbPolicy, judge_pair
from pytest_cpuperf.records.results import MetricRecord
from pytest_cpuperf.stats.sequential import (
    REGRESSION,
    RULED_OUT,
    decision,
    look,
    look_alpha,
    look_rounds,
    max_rounds,
)

BASE = [100.0, 104.0, 98.0, 101.0, 103.0, 99.0, 102.0, 100.0, 97.0, 101.0, 100.0, 99.0, 103.0]
WOBBLE = [0.998, 1.002, 0.999, 1.001, 1.0, 0.9985, 1.0015, 1.0, 0.999, 1.001, 0.9995, 1.0005,
          1.0]
"""Small round-to-round noise of head/base."""


def test_looks_follow_a_geometric_schedule_up_to_the_most_rounds_the_budget_allows() -> None:
    assert look_rounds(45) == (6, 9, 13, 19, 28, 42, 45)
    assert look_rounds(42) == (6, 9, 13, 19, 28, 42)
    assert look_rounds(4) == (4,)  # a budget too small for the first look: one look
    assert look_rounds(1) == (2,)  # an interval needs two rounds
    assert max_rounds(120.0, 2.5) == 48
    assert max_rounds(120.0, 2.5, done=1) == 49
    assert max_rounds(1.0, 2.5) == 2


def test_each_look_is_at_alpha_over_the_looks() -> None:
    assert look_alpha(0.05, 1) == 0.05
    assert look_alpha(0.05, 5) == 0.01


def test_an_interval_decides_only_when_it_is_wholly_on_one_side_of_the_boundary() -> None:
    assert decision(0.99, 1.01, 0.015) == RULED_OUT
    assert decision(0.90, 0.97, 0.015) == REGRESSION
    assert decision(0.97, 1.01, 0.015) is None
    assert decision(0.98, 0.99, 0.015) is None  # slower, but maybe within the tolerance


def test_a_look_rules_out_the_same_decides_a_regression_and_waits_on_noise() -> None:
    head_same = [b * w for b, w in zip(BASE[:6], WOBBLE, strict=False)]
    assert look(head_same, BASE[:6], 0.015, 0.05, 6) == RULED_OUT
    head_slow = [b * 0.9 * w for b, w in zip(BASE[:6], WOBBLE, strict=False)]
    assert look(head_slow, BASE[:6], 0.015, 0.05, 6) == REGRESSION
    noisy = [b * f for b, f in zip(BASE[:6], [0.95, 1.04, 0.97, 1.03, 0.96, 1.05],
                                   strict=True)]
    assert look(noisy, BASE[:6], 0.015, 0.05, 6) is None
    assert look(head_same[:1], BASE[:1], 0.015, 0.05, 1) is None  # one round: no interval


def test_more_looks_ask_more_of_each() -> None:
    """Bonferroni: the same rounds that decide at one look may not at twenty."""
    head = [b * f for b, f in zip(BASE[:6], [0.985, 1.004, 0.99, 1.002, 0.988, 1.001],
                                  strict=True)]
    assert look(head, BASE[:6], 0.015, 0.05, 1) == RULED_OUT
    assert look(head, BASE[:6], 0.015, 0.05, 20) is None


def feed(rule: RoundRule, ratios: list[float], round_s: float = 1.0,
         spoiled: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
    """Run ``rule`` over rounds whose head/base are ``ratios`` on a made-up clock; the rounds
    at which it was asked for another (1-based)."""
    now, asked = 0.0, []
    for number, ratio in enumerate(ratios):
        if not rule.another(now):
            break
        asked.append(number + 1)
        now += round_s
        base = BASE[number % len(BASE)]
        rule.record(round_s, number in spoiled, [base], [base * ratio], now)
    else:
        rule.another(now)
    return asked


def auto_rule(budget_s: float = 45.0, **more: object) -> RoundRule:
    return RoundRule(None, deadline=budget_s, budget_s=budget_s, tolerance=0.015, alpha=0.05,
                     **more)  # type: ignore[arg-type]


def test_the_rule_stops_at_the_first_look_that_decides() -> None:
    rule = auto_rule()
    feed(rule, WOBBLE * 4)
    assert rule.stop == Stop(6, DECIDED, looks=len(look_rounds(45)), budget_s=45.0,
                             decision=RULED_OUT)
    assert rule.stop.describe().startswith("decided after 6 rounds (no regression")
    slow = auto_rule()
    feed(slow, [0.9 * w for w in WOBBLE] * 4)
    assert slow.stop is not None and slow.stop.decision == REGRESSION


def test_undecided_rounds_go_on_until_the_budget_runs_out() -> None:
    noisy = [0.95, 1.04, 0.97, 1.03, 0.96, 1.05] * 20
    rule = auto_rule(budget_s=30.0)
    asked = feed(rule, noisy)
    assert rule.stop is not None and rule.stop.reason == BUDGET
    assert rule.stop.rounds == len(asked) == 30
    assert rule.stop.describe() == "budget of 30 s ran out after 30 rounds"


def test_rounds_that_take_longer_than_the_first_end_at_the_deadline() -> None:
    rule = auto_rule(budget_s=30.0)
    now = 0.0
    for number in range(100):
        if not rule.another(now):
            break
        round_s = 1.0 if number == 0 else 3.0  # the schedule assumed 30 rounds
        now += round_s
        rule.record(round_s, False, [100.0], [100.0 * (0.95 if number % 2 else 1.05)], now)
    assert rule.stop is not None and rule.stop.reason == BUDGET
    assert rule.stop.rounds == 10 and now <= 30.0
    assert rule.looks == len(look_rounds(30))  # fixed before the first look


def test_spoiled_rounds_are_not_counted_nor_looked_at() -> None:
    rule = auto_rule()
    asked = feed(rule, [1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0] * 3, spoiled={1})
    assert rule.stop is not None and rule.stop.reason == DECIDED
    assert rule.stop.rounds == 6 and len(asked) == 7
    assert rule.base[0] == [BASE[i] for i in (0, 2, 3, 4, 5, 6)]


def test_a_fixed_count_and_a_fresh_pairs_repeat_do_not_look() -> None:
    fixed = RoundRule(5, deadline=1e9, budget_s=1e9, tolerance=0.015, alpha=0.05, extra=5)
    assert len(feed(fixed, WOBBLE * 2, spoiled={0})) == 6
    assert fixed.stop == Stop(5, FIXED)
    repeat = auto_rule(repeat=13)
    assert len(feed(repeat, WOBBLE * 2)) == 13
    assert repeat.stop is not None and repeat.stop.reason == REPEATED
    alone = auto_rule(paired=False)
    assert len(feed(alone, WOBBLE * 2)) == 6  # nothing to compare: the least rounds


def test_the_error_rate_holds_over_the_looks() -> None:
    """Head exactly at the tolerance boundary (a 1.5% regression): ruling it out is an error.
    With the looks accounted for its rate stays within alpha/2 (one side of the two-sided
    level); looking as often at the unadjusted level errs more often."""
    rng = np.random.default_rng(26)
    trials = 400

    def wrong(adjusted: bool) -> int:
        errors = 0
        for _ in range(trials):
            logs = np.log(0.985) + rng.normal(0.0, 0.02, 60)
            schedule = look_rounds(60)
            for rounds in schedule:
                head = list(np.exp(logs[:rounds]) * 100.0)
                got = look(head, [100.0] * rounds, 0.015, 0.05,
                           len(schedule) if adjusted else 1)
                if got is not None:
                    errors += got == RULED_OUT
                    break
        return errors

    adjusted, naive = wrong(True), wrong(False)
    assert adjusted <= 0.025 * trials * 1.5
    assert adjusted < naive


def throughput(samples: list[float]) -> MetricRecord:
    return MetricRecord(test_id="t.py::test", metric="throughput", kind="throughput",
                        unit="samples/s", value=sorted(samples)[len(samples) // 2],
                        samples=samples)


def test_the_verdict_uses_the_rules_level_and_an_undecided_pass_is_inconclusive() -> None:
    head = [b * w for b, w in zip(BASE, WOBBLE, strict=True)]
    once = judge_pair(throughput(BASE), throughput(head), AbPolicy())
    six = judge_pair(throughput(BASE), throughput(head), AbPolicy(looks=6))
    assert six.ci_level is not None and once.ci_level is not None
    assert six.ci_level == round(1 - 0.05 / 6, 6) and once.ci_level == 0.95
    assert six.ci is not None and once.ci is not None
    assert six.ci[0] < once.ci[0] and six.ci[1] > once.ci[1]
    wide = judge_pair(throughput(BASE[:2]), throughput([BASE[0] * 1.01, BASE[1] * 0.99]),
                      AbPolicy())
    ran_out = Stop(2, BUDGET, looks=1, budget_s=5.0)
    [said] = with_stops([wide], {0: ran_out})
    assert said.status.value == "inconclusive"
    assert "budget of 5 s ran out after 2 rounds" in said.message
    [decided] = with_stops([six], {0: Stop(13, DECIDED, 6, 120.0, RULED_OUT)})
    assert decided.status == six.status
    assert "decided after 13 rounds" in decided.message


def test_a_regression_before_the_first_look_must_lie_wholly_beyond_the_tolerance() -> None:
    """A budget that runs out before the rule's first look leaves a loss whose interval still
    reaches within the tolerance undecided; a loss wholly beyond it stays a regression."""
    slight = judge_pair(throughput([100.0, 101.0]), throughput([96.5, 96.0]), AbPolicy())
    gross = judge_pair(throughput([100.0, 101.0]), throughput([50.0, 50.4]), AbPolicy())
    assert slight.status.value == "regression" and gross.status.value == "regression"
    assert slight.ci is not None and slight.ci[1] > -AbPolicy().tolerance
    ran_out = {0: Stop(2, BUDGET, looks=1, budget_s=0.5)}
    [undecided] = with_stops([slight], ran_out)
    assert undecided.status.value == "inconclusive"
    assert "before the rule's first look at 6 rounds" in undecided.message
    [kept] = with_stops([gross], ran_out)
    assert kept.status.value == "regression"
    [looked] = with_stops([slight], {0: Stop(9, BUDGET, looks=2, budget_s=60.0)})
    assert looked.status.value == "regression"
